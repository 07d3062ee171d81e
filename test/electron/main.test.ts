/**
 * createAppCoordinator without Electron: a fake app, ipcMain and webContents with the shapes of electron's
 * own types. Checks the lifecycle (join on ready in userData, hand over on quit), who may call, and that
 * windows get events.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join as joinPath } from 'node:path';
import {
  createAppCoordinator,
  type AppCoordinatorOptions,
  type AppLike,
  type IpcMainLike,
  type WebContentsLike,
} from '../../src/electron/main.js';
import { currentProcess, processStartOf } from '../../src/lease/process-identity.js';
import type { LeaseholdError } from '../../src/errors.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL, type BridgeEvent, type BridgeReply } from '../../src/electron/renderer-api.js';
import { join } from '../../src/instance/instance.js';
import { pathToFileURL } from 'node:url';
import { deadPid, tempRoot, until } from '../helpers.js';

/** Electron's app: `ready` once; setPath only before it; `quit()` emits before-quit, then (unless prevented) quit. */
class FakeApp extends EventEmitter {
  quits = 0;
  /** app.exit(code): exits at once, without before-quit or will-quit (Electron's docs). */
  exitCode: number | undefined;
  readonly paths = new Map<string, string>();
  readonly setPathCalls: { name: string; path: string; beforeReady: boolean }[] = [];
  readonly ready: Promise<void>;
  #isReady = false;
  #resolve!: () => void;
  constructor(
    readonly userData: string,
    readonly appPath = userData,
  ) {
    super();
    this.ready = new Promise((r) => (this.#resolve = r));
    this.paths.set('userData', userData);
    this.paths.set('sessionData', userData); // Electron's default
  }
  whenReady() {
    return this.ready;
  }
  isReady() {
    return this.#isReady;
  }
  getPath(name: string) {
    const p = this.paths.get(name);
    assert.ok(p, `no path ${name}`);
    return p;
  }
  setPath(name: string, path: string) {
    this.setPathCalls.push({ name, path, beforeReady: !this.#isReady });
    this.paths.set(name, path);
  }
  getAppPath() {
    return this.appPath;
  }
  /** Electron's: the version in the app's package.json. */
  getVersion() {
    return '1.2.3';
  }
  becomeReady() {
    this.#isReady = true;
    this.#resolve();
  }
  exit(code = 0) {
    this.exitCode = code;
  }
  quit() {
    this.quits++;
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => (prevented = true) });
    if (!prevented) this.emit('quit', {}, 0);
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
  /** As IpcMainInvokeEvent: `sender` and `senderFrame` (a WebFrameMain: `url`, `parent` null for the top frame, or null). */
  invoke(sender: FakeWebContents, request: unknown, frame: FakeFrame | null = sender.mainFrame) {
    const fn = this.handlers.get(REQUEST_CHANNEL);
    if (!fn) throw new Error('no handler');
    return fn({ sender, senderFrame: frame }, request) as Promise<BridgeReply>;
  }
}

interface FakeFrame {
  url: string;
  parent: FakeFrame | null;
}

/** An Electron Event: `preventDefault()` sets `defaultPrevented`. */
function fakeEvent<T extends object>(fields: T): T & { preventDefault(): void; defaultPrevented: boolean } {
  const e = { ...fields, defaultPrevented: false, preventDefault: () => void (e.defaultPrevented = true) };
  return e;
}

let ids = 0;
class FakeWebContents extends EventEmitter {
  readonly id = ++ids;
  readonly mainFrame: FakeFrame;
  readonly sent: BridgeEvent[] = [];
  destroyed = false;
  windowOpenHandler: ((details: { url: string }) => { action: 'allow' | 'deny' }) | undefined;
  permissionHandler:
    ((wc: unknown, permission: string, callback: (granted: boolean) => void, details: { requestingUrl: string }) => void) | undefined;
  readonly session = {
    setPermissionRequestHandler: (h: FakeWebContents['permissionHandler']) => void (this.permissionHandler = h),
  };
  constructor(url = PAGE) {
    super();
    this.mainFrame = { url, parent: null };
  }
  send(channel: string, e: BridgeEvent) {
    assert.equal(channel, EVENT_CHANNEL);
    this.sent.push(e);
  }
  isDestroyed() {
    return this.destroyed;
  }
  setWindowOpenHandler(h: FakeWebContents['windowOpenHandler']) {
    this.windowOpenHandler = h;
  }
  destroy() {
    this.destroyed = true;
    this.emit('destroyed');
  }
  /** What Electron does when the page starts a navigation: emit will-navigate; true when it may proceed. */
  navigate(url: string): boolean {
    const e = fakeEvent({ url, isSameDocument: false, isMainFrame: true });
    this.emit('will-navigate', e, url);
    return !e.defaultPrevented;
  }
  /** As permission requests arrive: the handler must call back. */
  requestPermission(permission: string): Promise<boolean> {
    assert.ok(this.permissionHandler, 'a permission request handler is set');
    return new Promise((resolve) => this.permissionHandler!(this, permission, resolve, { requestingUrl: this.mainFrame.url }));
  }
}

const APP_DIR = '/opt/example-app/resources/app.asar';
const PAGE = pathToFileURL(`${APP_DIR}/renderer/index.html`).href;

describe('createAppCoordinator: the second launch', () => {
  it("forwards a launch to the owner's onLaunch and exits with its status; alone, or with 'stay', it stays", async () => {
    const root = await tempRoot();
    const apps: FakeApp[] = [];
    const coordinator = (options: AppCoordinatorOptions) => {
      const app = new FakeApp(root.dir, APP_DIR);
      apps.push(app);
      const c = createAppCoordinator(app as unknown as AppLike, { ipcMain: new FakeIpc() as unknown as IpcMainLike, ttlMs: 2000, ...options });
      app.becomeReady();
      return { app, c };
    };
    const first = coordinator({ name: 'first', secondLaunch: 'forward' });
    const launches: unknown[] = [];
    // Registered before ready and unregistered after: it no longer answers.
    const off = first.c.onLaunch(() => 9);
    const joined = await first.c.ready;
    await joined.whenOwner();
    off();
    await assert.rejects(joined.request('leasehold:launch', { argv: [], cwd: '/' }), (e: { code?: string }) => e.code === 'ENOHANDLER');
    first.c.onLaunch((launch) => {
      launches.push(launch);
      return { status: 5 };
    });
    try {
      assert.equal(await first.c.primary, true, 'nobody else runs: this launch is the app');
      const second = coordinator({ name: 'second', secondLaunch: (argv) => (argv.length > 0 ? 'forward' : 'stay'), launchPayload: { open: 'x.md' } });
      second.c.onLaunch(() => 0);
      assert.equal(await second.c.primary, false, 'forwarded');
      assert.equal(second.app.exitCode, 5, "it exits with the owner's status");
      assert.equal(second.app.quits, 0, 'by app.exit, not quit');
      assert.equal(second.c.instance?.role, 'closed');
      assert.deepEqual(launches, [{ argv: process.argv, cwd: process.cwd(), payload: { open: 'x.md' } }]);
      assert.equal(second.c.sessionDataPath !== undefined && existsSync(second.c.sessionDataPath), false, 'its session directory went');
      const third = coordinator({ name: 'third' }); // 'stay', the default
      assert.equal(await third.c.primary, true);
      await (await third.c.ready).whenConnected();
      assert.equal(third.c.instance?.role, 'follower');
      assert.equal(third.app.exitCode, undefined);
      await third.c.close();
    } finally {
      await first.c.close();
      await root.remove();
    }
  });
});

describe('createAppCoordinator', () => {
  it('joins in userData when ready, serves attached windows only, and hands over on quit', async () => {
    const root = await tempRoot();
    const app = new FakeApp(root.dir, APP_DIR);
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
      // Its presence carries the app's version (app.getVersion()); the other instance gave none.
      await until(() => instance.instances.length === 2, 2000, 'presence of both');
      assert.deepEqual(
        instance.instances.map((i) => [i.name, i.appVersion]),
        [
          ['already running', ''],
          ['the app', '1.2.3'],
        ],
      );

      // Two windows of this process: both get the status and the state, and see each other's changes.
      const second = new FakeWebContents();
      coordinator.attach(second as unknown as WebContentsLike);
      await until(() => win.sent.some((e) => e.type === 'status' && e.status.connected), 2000, 'status event');
      await until(() => second.sent.some((e) => e.type === 'status' && e.status.connected), 2000, 'status event (second window)');
      // Each window gets the values of the paths it watches, and only those.
      assert.deepEqual(await ipc.invoke(win, { op: 'watch', paths: ['n'] }), { ok: true, value: { version: 0, values: { n: undefined } } });
      assert.deepEqual(await ipc.invoke(second, { op: 'watch', paths: [''] }), { ok: true, value: { version: 0, values: { '': {} } } });
      const v = await ipc.invoke(win, { op: 'mutate', mutation: { op: 'increment', path: 'n' } });
      assert.deepEqual(v, { ok: true, value: 1 });
      assert.deepEqual(await ipc.invoke(win, { op: 'command', name: 'hello' }), { ok: true, value: 'hi' });
      await until(() => second.sent.some((e) => e.type === 'values' && e.version === 1), 2000, 'the other window sees the change');
      await until(() => win.sent.some((e) => e.type === 'values' && e.version === 1), 2000, 'and this one');
      assert.deepEqual(
        win.sent.filter((e) => e.type === 'values').map((e) => e.type === 'values' && e.values),
        [{ n: 1 }],
      );
      assert.deepEqual(
        second.sent.filter((e) => e.type === 'values').map((e) => e.type === 'values' && e.values),
        [{ '': { n: 1 } }],
      );

      // Refused: a window that was not attached, a subframe, and malformed requests.
      const stranger = new FakeWebContents();
      assert.equal((await ipc.invoke(stranger, { op: 'status' })).ok, false);
      assert.equal((await ipc.invoke(win, { op: 'status' }, { url: PAGE, parent: win.mainFrame })).ok, false, 'a subframe');
      assert.equal((await ipc.invoke(win, { op: 'status' }, null)).ok, false, 'a frame gone');
      for (const url of [
        'https://evil.example/',
        pathToFileURL('/tmp/Downloads/page.html').href,
        'file:///opt/example-app/resources/app.asar.evil/x.html',
      ])
        assert.deepEqual(
          await ipc.invoke(win, { op: 'status' }, { url, parent: null }),
          { ok: false, error: { code: 'EPROTOCOL', message: 'this page is not one of the app’s own (trustPage)' } },
          url,
        );
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

describe('createAppCoordinator: quitting before ready', () => {
  it('close() before ready resolves at once; the app never joins, and ready rejects with ECLOSED', async () => {
    const root = await tempRoot();
    const app = new FakeApp(root.dir, APP_DIR);
    const ipc = new FakeIpc();
    const coordinator = createAppCoordinator(app as unknown as AppLike, { ipcMain: ipc as unknown as IpcMainLike, ttlMs: 2000 });
    try {
      // The app is never ready here: a close() that waited for ready would never resolve.
      const closed = await Promise.race([
        coordinator.close().then(() => 'closed'),
        new Promise((r) => setTimeout(r, 2000, 'still waiting')),
      ]);
      assert.equal(closed, 'closed');
      assert.equal(ipc.handlers.size, 0, 'the IPC handler is removed');
      app.becomeReady();
      await assert.rejects(coordinator.ready, { code: 'ECLOSED' });
      assert.equal(coordinator.instance, undefined, 'nothing joined after close()');
      const other = join({ dataRoot: root.dir, ttlMs: 2000 });
      await other.whenOwner(); // no instance of the closed coordinator holds or contends for the lease
      await other.close();
    } finally {
      await root.remove();
    }
  });
});

describe('createAppCoordinator: Chromium session data per process', () => {
  const sessions = (root: string) => joinPath(root, 'leasehold', 'sessions');

  it('sets sessionData to a private directory of its own before ready, and removes it when the app quits', async () => {
    const root = await tempRoot();
    const app = new FakeApp(root.dir, APP_DIR);
    const coordinator = createAppCoordinator(app as unknown as AppLike, { ipcMain: new FakeIpc() as unknown as IpcMainLike, ttlMs: 2000 });
    try {
      assert.equal(app.setPathCalls.length, 1);
      const [call] = app.setPathCalls;
      assert.equal(call!.name, 'sessionData');
      assert.ok(call!.beforeReady, 'set before ready, when Chromium has not read it yet');
      assert.equal(coordinator.sessionDataPath, call!.path);
      assert.equal(dirname(call!.path), sessions(root.dir));
      assert.notEqual(call!.path, app.userData);
      const st = lstatSync(call!.path);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o777, 0o700);

      // A second process on the same data root gets another directory.
      const other = new FakeApp(root.dir, APP_DIR);
      const second = createAppCoordinator(other as unknown as AppLike, { ipcMain: new FakeIpc() as unknown as IpcMainLike, ttlMs: 2000 });
      assert.notEqual(second.sessionDataPath, coordinator.sessionDataPath);
      other.becomeReady();
      await (await second.ready).whenOwner();
      await second.close();

      app.becomeReady();
      await (await coordinator.ready).whenConnected();
      assert.equal(app.quit(), true);
      await until(() => app.quits === 2, 5000, 'the quit after the handover');
      assert.equal(existsSync(call!.path), false, 'removed on a clean quit');
      assert.deepEqual(
        readdirSync(sessions(root.dir)).filter((n) => call!.path.endsWith(n.replace(/\.json$/, ''))),
        [],
        'its identity file too',
      );
    } finally {
      await coordinator.close();
      await root.remove();
    }
  });

  it('sweeps the directories of processes that are gone, and keeps those of live ones', async () => {
    const root = await tempRoot();
    mkdirSync(sessions(root.dir), { recursive: true, mode: 0o700 });
    const me = currentProcess();
    const leftover = (name: string, owner: object) => {
      writeFileSync(joinPath(sessions(root.dir), `${name}.json`), JSON.stringify(owner), { mode: 0o600 });
      mkdirSync(joinPath(sessions(root.dir), name, 'Local Storage', 'leveldb'), { recursive: true, mode: 0o700 });
      writeFileSync(joinPath(sessions(root.dir), name, 'Local Storage', 'leveldb', 'LOCK'), '');
      return joinPath(sessions(root.dir), name);
    };
    const dead = leftover('1-dead', { pid: deadPid(), processStart: null, host: me.host });
    const reused = leftover('2-reused', { pid: process.pid, processStart: 'linux:1', host: me.host });
    const parent = leftover('3-live', { pid: process.ppid, processStart: processStartOf(process.ppid), host: me.host });
    const remote = leftover('4-remote', { pid: deadPid(), processStart: null, host: `not-${me.host}` });
    const damaged = joinPath(sessions(root.dir), '5-damaged');
    mkdirSync(damaged, { mode: 0o700 });
    writeFileSync(`${damaged}.json`, '{"pid": ', { mode: 0o600 });
    const app = new FakeApp(root.dir, APP_DIR);
    const coordinator = createAppCoordinator(app as unknown as AppLike, { ipcMain: new FakeIpc() as unknown as IpcMainLike, ttlMs: 2000 });
    try {
      assert.ok(existsSync(dead), 'nothing is removed before ready');
      app.becomeReady();
      await (await coordinator.ready).whenOwner();
      // The sweep runs in the background (removing a Chromium cache must not hold the main process).
      const swept = me.start === null ? [dead] : [dead, reused];
      await until(() => swept.every((d) => !existsSync(d) && !existsSync(`${d}.json`)));
      assert.equal(existsSync(dead), false, 'a dead process’s directory is swept');
      assert.equal(existsSync(`${dead}.json`), false);
      if (me.start !== null) assert.equal(existsSync(reused), false, 'a reused pid’s directory is swept');
      assert.ok(existsSync(parent), 'a live process keeps its directory');
      assert.ok(existsSync(remote), 'another host’s process is not judged');
      assert.ok(existsSync(damaged), 'an unreadable identity is not judged');
      assert.ok(existsSync(coordinator.sessionDataPath!), 'its own directory stays');
    } finally {
      await coordinator.close();
      await root.remove();
    }
  });

  it("refuses to start after ready (sessionData could no longer be set), unless sessionData is 'shared'", async () => {
    const root = await tempRoot();
    const app = new FakeApp(root.dir, APP_DIR);
    app.becomeReady();
    try {
      assert.throws(
        () => createAppCoordinator(app as unknown as AppLike, { ipcMain: new FakeIpc() as unknown as IpcMainLike }),
        (e: LeaseholdError) => e.code === 'EINVALIDCONFIG' && e.field === 'sessionData' && /before the app is ready/.test(e.message),
      );
      assert.throws(
        () =>
          createAppCoordinator(app as unknown as AppLike, {
            ipcMain: new FakeIpc() as unknown as IpcMainLike,
            sessionData: 'nope' as 'shared',
          }),
        { code: 'EINVALIDCONFIG' },
      );
      const shared = createAppCoordinator(app as unknown as AppLike, {
        ipcMain: new FakeIpc() as unknown as IpcMainLike,
        sessionData: 'shared',
        ttlMs: 2000,
      });
      await (await shared.ready).whenOwner();
      assert.deepEqual(app.setPathCalls, [], "'shared' leaves sessionData to the app");
      assert.equal(shared.sessionDataPath, undefined);
      assert.equal(existsSync(sessions(root.dir)), false);
      await shared.close();
    } finally {
      await root.remove();
    }
  });
});

describe('createAppCoordinator: attached windows follow Electron’s security checklist', () => {
  async function setup(options: Partial<AppCoordinatorOptions> = {}) {
    const root = await tempRoot();
    const app = new FakeApp(root.dir, APP_DIR);
    const opened: string[] = [];
    const coordinator = createAppCoordinator(app as unknown as AppLike, {
      ipcMain: new FakeIpc() as unknown as IpcMainLike,
      shell: { openExternal: async (url: string) => void opened.push(url) },
      sessionData: 'shared',
      ttlMs: 2000,
      ...options,
    });
    const win = new FakeWebContents();
    coordinator.attach(win as unknown as WebContentsLike);
    app.becomeReady();
    await (await coordinator.ready).whenOwner();
    return {
      win,
      opened,
      done: async () => {
        await coordinator.close();
        await root.remove();
      },
    };
  }

  it('prevents navigation away from the app’s own pages', async () => {
    const { win, done } = await setup();
    try {
      assert.equal(win.navigate(pathToFileURL(`${APP_DIR}/renderer/settings.html`).href), true, 'another page of the app');
      for (const url of [
        'https://evil.example/',
        'file:///etc/passwd',
        pathToFileURL('/tmp/Downloads/x.html').href,
        'javascript:alert(1)',
        'not a url',
      ])
        assert.equal(win.navigate(url), false, url);
    } finally {
      await done();
    }
  });

  it('denies new windows; with openExternalLinks, http(s) links go to the system browser', async () => {
    const plain = await setup();
    try {
      assert.deepEqual(plain.win.windowOpenHandler!({ url: 'https://example.com/' }), { action: 'deny' });
      assert.deepEqual(plain.win.windowOpenHandler!({ url: PAGE }), { action: 'deny' });
      assert.deepEqual(plain.opened, []);
    } finally {
      await plain.done();
    }
    const routed = await setup({ openExternalLinks: true });
    try {
      for (const url of ['https://example.com/a', 'http://example.com/b', 'file:///etc/passwd', 'javascript:alert(1)', 'smb://host/share'])
        assert.deepEqual(routed.win.windowOpenHandler!({ url }), { action: 'deny' }, url);
      assert.deepEqual(routed.opened, ['https://example.com/a', 'http://example.com/b']);
    } finally {
      await routed.done();
    }
  });

  it('denies permission requests unless allowPermission grants them', async () => {
    const plain = await setup();
    try {
      for (const p of ['media', 'geolocation', 'notifications', 'openExternal'])
        assert.equal(await plain.win.requestPermission(p), false, p);
    } finally {
      await plain.done();
    }
    const seen: [string, string][] = [];
    const chosen = await setup({
      allowPermission: (permission, url) => {
        seen.push([permission, url]);
        if (permission === 'midi') throw new Error('a policy bug');
        return permission === 'notifications';
      },
    });
    try {
      assert.equal(await chosen.win.requestPermission('notifications'), true);
      assert.equal(await chosen.win.requestPermission('media'), false);
      assert.equal(await chosen.win.requestPermission('midi'), false, 'a throwing policy grants nothing');
      assert.deepEqual(seen[0], ['notifications', PAGE]);
    } finally {
      await chosen.done();
    }
  });
});
