import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { FakeClock } from '../../src/clock.js';
import { Admission } from '../../src/transport/admission.js';
import { rawConnect } from './hostile-frames.js';
import { until } from '../helpers.js';

describe('Admission: connections that have not authenticated', () => {
  let server: Server | undefined;
  const clients: Socket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function setup(options: { maxUnauthenticated?: number; authTimeoutMs?: number } = {}) {
    const clock = new FakeClock();
    server = createServer();
    const admission = new Admission(server, { clock, ...options });
    const accepted: Socket[] = [];
    server.on('connection', (s) => accepted.push(s));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const connect = async () => {
      const c = await rawConnect({ port });
      clients.push(c);
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      await until(() => accepted.length === clients.length, 2000, 'accept');
      return { client: c, socket: accepted[accepted.length - 1]!, closed };
    };
    return { clock, admission, connect };
  }

  it('drops the oldest unauthenticated connection when one more arrives', async () => {
    const { admission, connect } = await setup({ maxUnauthenticated: 3 });
    const a = await connect();
    const b = await connect();
    const c = await connect();
    admission.admit(b.socket);
    const d = await connect();
    assert.equal(admission.unauthenticated, 3, 'a, c, d: b was admitted and is not counted');
    const e = await connect();
    await a.closed; // the oldest unauthenticated one
    assert.equal(admission.evicted, 1);
    assert.ok(!b.client.destroyed && !c.client.destroyed && !d.client.destroyed && !e.client.destroyed);
    assert.equal(admission.unauthenticated, 3);
  });

  it('closes a connection that has not authenticated within authTimeoutMs, and not one that has', async () => {
    const { clock, admission, connect } = await setup({ authTimeoutMs: 1000 });
    const idle = await connect();
    const good = await connect();
    admission.admit(good.socket);
    await clock.advance(999);
    assert.equal(idle.socket.destroyed, false);
    await clock.advance(1);
    await idle.closed;
    assert.equal(good.socket.destroyed, false);
    assert.equal(admission.unauthenticated, 0);
  });

  it('survives running out of descriptors while accepting: sheds, lowers its bound, reports once', async () => {
    const { admission, connect } = await setup({ maxUnauthenticated: 64 });
    const reported: string[] = [];
    admission.onAcceptError = (err) => reported.push(String(err.code));
    const held = [];
    for (let i = 0; i < 10; i++) held.push(await connect());
    const emfile = () => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
    server!.emit('error', emfile());
    await Promise.all(held.map((h) => h.closed));
    assert.equal(admission.unauthenticated, 0);
    assert.equal(admission.maxUnauthenticated, 5);
    server!.emit('error', emfile());
    assert.deepEqual(reported, ['EMFILE'], 'reported once');
    // A failed listen() is not an accept error: its caller reports it.
    server!.emit('error', Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'listen' }));
    assert.deepEqual(reported, ['EMFILE']);
    // Still accepting.
    const after = await connect();
    assert.equal(after.socket.destroyed, false);
  });
});
