/**
 * createAppCoordinator without Electron: a fake app, ipcMain and webContents with the shapes of electron's
 * own types. Checks the lifecycle (join on ready in userData, hand over on quit), who may call, and that
 * windows get events.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createAppCoordinator, type AppLike, type IpcMainLike, type WebContentsLike } from '../../src/electron/main.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL, type BridgeEvent, type BridgeReply } from '../../src/electron/renderer-api.js';
import { join } from '../../src/coordinator.js';
import { tempRoot, until } from '../helpers.js';

class FakeApp extends EventEmitter {
  quits = 0;
  readonly ready: Promise<void>;
  #resolve!: () => void;
  constructor(readonly userData: string) {
    super();
    this.ready = new Promise((r) => (this.#resolve = r));
  }
  whenReady() {
    return this.ready;
  }
  getPath(name: string) {
    assert.equal(name, 'userData');
    return this.userData;
  }
  becomeReady() {
    this.#resolve();
  }
  quit() {
    this.quits++;
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => (prevented = true) });
    return prevented;
  }
}

class FakeIpc {
  handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  handle(channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) {
    assert.ok(!this.handlers.has(channel), `a second handler for ${channel}`);
    this.handlers.set(channel, fn);
  }
  removeHandler(channel: string) {
    this.handlers.delete(channel);
  }
  invoke(sender: FakeWebContents, request: unknown, frame: unknown = sender.mainFrame) {
    const fn = this.handlers.get(REQUEST_CHANNEL);
    if (!fn) throw new Error('no handler');
    return fn({ sender, senderFrame: frame }, request) as Promise<BridgeReply>;
  }
}

let ids = 0;
class FakeWebContents extends EventEmitter {
  readonly id = ++ids;
  readonly mainFrame = { name: 'main' };
  readonly sent: BridgeEvent[] = [];
  destroyed = false;
  send(channel: string, e: BridgeEvent) {
    assert.equal(channel, EVENT_CHANNEL);
    this.sent.push(e);
  }
  isDestroyed() {
    return this.destroyed;
  }
  destroy() {
    this.destroyed = true;
    this.emit('destroyed');
  }
}

describe('createAppCoordinator', () => {
  it('joins in userData when ready, serves attached windows only, and hands over on quit', async () => {
    const root = await tempRoot();
    const app = new FakeApp(root.dir);
    const ipc = new FakeIpc();
    const other = join({ dataRoot: root.dir, ttlMs: 2000, name: 'already running' });
    await other.whenOwner();
    const coordinator = createAppCoordinator(app as unknown as AppLike, {
      ipcMain: ipc as unknown as IpcMainLike,
      ttlMs: 2000,
      name: 'the app',
      commands: { hello: () => 'hi' },
    });
    try {
      const win = new FakeWebContents();
      coordinator.attach(win as unknown as WebContentsLike);
      assert.equal(coordinator.instance, undefined, 'nothing joins before the app is ready');
      app.becomeReady();
      const instance = await coordinator.ready;
      await instance.whenConnected();
      assert.equal(instance.role, 'follower');
      assert.equal(instance.holder?.name, 'already running');

      // Two windows of this process: both get the status and the state, and see each other's changes.
      const second = new FakeWebContents();
      coordinator.attach(second as unknown as WebContentsLike);
      await until(() => win.sent.some((e) => e.type === 'status' && e.status.connected), 2000, 'status event');
      await until(() => second.sent.some((e) => e.type === 'status' && e.status.connected), 2000, 'status event (second window)');
      assert.ok(win.sent.some((e) => e.type === 'state'));
      const v = await ipc.invoke(win, { op: 'mutate', mutation: { op: 'increment', path: 'n' } });
      assert.deepEqual(v, { ok: true, value: 1 });
      assert.deepEqual(await ipc.invoke(win, { op: 'command', name: 'hello' }), { ok: true, value: 'hi' });
      await until(() => second.sent.some((e) => e.type === 'state' && e.version === 1), 2000, 'the other window sees the change');

      // Refused: a window that was not attached, a subframe, and malformed requests.
      const stranger = new FakeWebContents();
      assert.equal((await ipc.invoke(stranger, { op: 'status' })).ok, false);
      assert.equal((await ipc.invoke(win, { op: 'status' }, { name: 'iframe' })).ok, false);
      for (const bad of [
        null,
        'status',
        { op: 'status', extra: 1 },
        { op: 'mutate', mutation: { op: 'set', path: 'constructor.x', value: 1 } },
        { op: 'eval' },
      ]) {
        const reply = await ipc.invoke(win, bad);
        assert.equal(reply.ok, false, JSON.stringify(bad));
        assert.equal(!reply.ok && reply.error.code, 'EPROTOCOL', JSON.stringify(bad));
      }
      assert.equal(other.state.version, 1, 'refusals changed nothing');

      // A destroyed window is detached: no more events, no more requests.
      win.destroy();
      const count = win.sent.length;
      await other.state.increment('n');
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(win.sent.length, count);
      assert.equal((await ipc.invoke(win, { op: 'status' })).ok, false);

      // Owning, then quitting: the first quit is held for the handover, then the app quits for real.
      await other.close();
      await instance.whenOwner();
      const next = join({ dataRoot: root.dir, ttlMs: 2000, name: 'next' });
      await next.whenConnected();
      assert.equal(app.quit(), true, 'the first quit waits for the handover');
      await until(() => app.quits === 2, 5000, 'the app quits again after handing over');
      assert.equal(instance.role, 'closed');
      await next.whenOwner();
      assert.equal(ipc.handlers.size, 0, 'the IPC handler is removed');
      await next.close();
    } finally {
      await coordinator.close();
      await other.close();
      await root.remove();
    }
  });
});
