/** Baselines measured in the same run as the figures they are compared to. */
import { WebSocketServer, WebSocket } from 'ws';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/clock.js';

/** Raw ws on loopback: connect time and ping-pong (message echo) round trips, in ms. */
export async function rawWs(rounds = 2000): Promise<{ connect: number[]; rtt: number[] }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  await new Promise((r) => wss.once('listening', r));
  const port = (wss.address() as { port: number }).port;
  const connect: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = systemClock.now();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    connect.push(systemClock.now() - t0);
    ws.close();
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  const rtt: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = systemClock.now();
    ws.send('{"t":"ping","i":' + i + '}');
    await new Promise((r) => ws.once('message', r));
    rtt.push(systemClock.now() - t0);
  }
  ws.close();
  await new Promise((r) => wss.close(r));
  return { connect, rtt: rtt.slice(100) };
}

const ECHO = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/ws-echo.js');

/** Starts the ws-echo fixture in a process of its own (`mode` 'fsync': it fdatasyncs each message first). */
async function startEcho(mode: 'echo' | 'fsync', dir: string): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [ECHO, mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => void child.kill('SIGTERM');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', () => reject(new Error('the ws-echo fixture exited')));
      child.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port));
    });
    return { port, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

const mutateFrame = (seq: number) => `{"t":"mutate","epoch":1,"seq":${seq},"m":{"op":"increment","path":"rtt","by":1}}`;

/**
 * Raw ws round trips to a server in another process (`mode` 'fsync': the server fdatasyncs each message
 * into a preallocated file before it answers), in ms. The message is a mutation's size.
 */
export async function rawWsAcrossProcesses(mode: 'echo' | 'fsync', dir: string, rounds = 1000): Promise<number[]> {
  const echo = await startEcho(mode, dir);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${echo.port}/`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    const rtt: number[] = [];
    for (let i = 0; i < rounds + 100; i++) {
      const t0 = systemClock.now();
      ws.send(mutateFrame(i + 1));
      await new Promise((r) => ws.once('message', r));
      rtt.push(systemClock.now() - t0);
    }
    ws.close();
    return rtt.slice(100);
  } finally {
    echo.stop();
  }
}

/**
 * Acknowledged messages per second of a raw ws server in another process that answers every message
 * (the least an owner could do per mutation), with `connections` clients in this process each sending
 * `perConnection` mutation-sized messages at once; one figure per run, `runs` runs.
 */
export async function rawWsAckThroughput(dir: string, runs = 3, connections = 8, perConnection = 5000): Promise<number[]> {
  const echo = await startEcho('echo', dir);
  try {
    const clients = await Promise.all(
      Array.from({ length: connections }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${echo.port}/`, { perMessageDeflate: false });
        await new Promise((r) => ws.once('open', r));
        return ws;
      }),
    );
    const out: number[] = [];
    for (let run = 0; run < runs; run++) {
      const t0 = systemClock.now();
      await Promise.all(
        clients.map(
          (ws) =>
            new Promise<void>((resolve) => {
              let acked = 0;
              const onMessage = () => {
                if (++acked < perConnection) return;
                ws.off('message', onMessage);
                resolve();
              };
              ws.on('message', onMessage);
              for (let i = 0; i < perConnection; i++) ws.send(mutateFrame(i + 1));
            }),
        ),
      );
      out.push((connections * perConnection) / ((systemClock.now() - t0) / 1000));
    }
    for (const ws of clients) ws.close();
    return out;
  } finally {
    echo.stop();
  }
}

/** Time from spawn to a bare `node` printing its first line, in ms. */
export async function bareNodeStart(n = 15): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = systemClock.now();
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("up\\n")'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    out.push(systemClock.now() - t0);
    await new Promise((r) => child.once('exit', r));
  }
  return out;
}
