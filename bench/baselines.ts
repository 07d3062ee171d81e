/** Baselines measured in the same run as the figures they are compared to. */
import { WebSocketServer, WebSocket } from 'ws';
import { spawn } from 'node:child_process';
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
