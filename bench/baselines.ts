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

/**
 * Raw ws round trips to a server in another process (`mode` 'fsync': the server fdatasyncs each message
 * into a preallocated file before it answers), in ms. The message is a mutation's size.
 */
export async function rawWsAcrossProcesses(mode: 'echo' | 'fsync', dir: string, rounds = 1000): Promise<number[]> {
  const child = spawn(process.execPath, [ECHO, mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', () => reject(new Error('the ws-echo fixture exited')));
      child.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port));
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    const rtt: number[] = [];
    for (let i = 0; i < rounds + 100; i++) {
      const t0 = systemClock.now();
      ws.send(`{"t":"mutate","epoch":1,"seq":${i + 1},"m":{"op":"increment","path":"rtt","by":1}}`);
      await new Promise((r) => ws.once('message', r));
      rtt.push(systemClock.now() - t0);
    }
    ws.close();
    return rtt.slice(100);
  } finally {
    child.kill('SIGTERM');
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
