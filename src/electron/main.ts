/**
 * `leasehold/electron`, main process: `createAppCoordinator<State>(app, options)`, called before `ready`.
 *
 *   createAppCoordinator ──▶ app.setPath('sessionData', <dataRoot>/leasehold/sessions/<this process>)
 *   app ready ──▶ join({ dataRoot: userData }) ──▶ RendererBridge ──ipcMain.handle──▶ attached windows
 *                 sweep the session directories of processes that are gone
 *   before-quit ──▶ preventDefault, instance.close() (graceful handover) ──▶ app.quit() again
 *   quit ──▶ remove this process's session directory
 *
 * Guarantees:
 *  1. Session data: each process gets its own Chromium session directory (session-data.ts), because
 *     Chromium does not share a profile between processes; `sessionData: 'shared'` leaves it alone.
 *  2. Who may call: only webContents you `attach()`, only from their top frame, and only while that frame
 *     shows one of the app's own pages (`trustPage`, checked on `event.senderFrame.url`); others get
 *     EPROTOCOL. Every request is validated (bridge.ts).
 *  3. Attached windows (Electron's security checklist): a navigation to a page that is not the app's own
 *     is prevented (`will-navigate`); new windows are denied (http(s) links go to the system browser with
 *     `openExternalLinks`); permission requests are denied unless `allowPermission` says otherwise.
 *  4. Quitting hands over before the process exits (the next owner serves within milliseconds), and a
 *     second quit during the handover is not blocked.
 * Not guaranteed: a handover when the process is killed or crashes (then followers take over by failover);
 * protection of windows that are not attached; the session directory's removal when Chromium still holds
 * its files (a later start sweeps it).
 *
 * This folder is the only one that imports electron; here only its types, so this logic runs (and is
 * tested) without an Electron binary. `ipcMain` and `shell` are taken from electron at run time unless injected.
 */
import { createRequire } from 'node:module';
import { relative, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App, IpcMain, IpcMainInvokeEvent, Shell, WebContents } from 'electron';
import { join, type Instance } from '../instance/instance.js';
import { forwardLaunch, handleLaunches, type LaunchHandler } from '../requests/launch.js';
import type { JoinOptions } from '../config.js';
import { LeaseholdError } from '../errors.js';
import type { Json } from '../state/document.js';
import type { Action, ActionLike } from '../state/json.js';
import { RendererBridge, type BridgeConnection, type RendererBridgeOptions } from './bridge.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL, type BridgeReply } from './renderer-api.js';
import { createSessionDir, sweepSessionDirs, type SessionDir } from './session-data.js';

export type AppLike = Pick<App, 'whenReady' | 'isReady' | 'getPath' | 'setPath' | 'getAppPath' | 'getVersion' | 'on' | 'quit' | 'exit'>;
export type IpcMainLike = Pick<IpcMain, 'handle' | 'removeHandler'>;
export type ShellLike = Pick<Shell, 'openExternal'>;
export type WebContentsLike = Pick<WebContents, 'id' | 'send' | 'on' | 'once' | 'isDestroyed' | 'setWindowOpenHandler' | 'session'>;

export interface AppCoordinatorOptions<State = Json, Actions extends ActionLike = Action>
  extends Omit<JoinOptions<State, Actions>, 'dataRoot'>, Pick<RendererBridgeOptions, 'commands' | 'coalesceMs'> {
  /** @default app.getPath('userData') */
  dataRoot?: string;
  /**
   * `per-instance`: this process's Chromium session data (localStorage, IndexedDB, caches, cookies) goes
   * to its own directory under the data root, removed when it quits; needs createAppCoordinator before
   * `ready`. `shared`: Electron's default (userData), for apps that set sessionData themselves or run
   * one process per profile. @default 'per-instance'
   */
  sessionData?: 'per-instance' | 'shared';
  /**
   * The app's own pages: the only ones an attached window may navigate to and use leasehold from.
   * @default file: URLs inside `app.getAppPath()`
   */
  trustPage?: (url: URL) => boolean;
  /** Links that would open a new window open http(s) URLs in the system browser instead of being denied. @default false */
  openExternalLinks?: boolean;
  /** Which permission requests (camera, notifications, …) of attached windows to grant. @default none */
  allowPermission?: (permission: string, requestingUrl: string) => boolean;
  /**
   * What this launch does when another instance of the app already owns: `stay` (a follower with its own
   * windows) or `forward` (hand argv, cwd and `launchPayload` to the owner's `onLaunch` handler, then exit
   * with its status: the single-instance pattern, with a reply). A function chooses per launch from argv.
   * @default 'stay'
   */
  secondLaunch?: 'stay' | 'forward' | ((argv: readonly string[]) => 'stay' | 'forward');
  /** Sent with a forwarded launch (a deep link or file the app parsed from argv). */
  launchPayload?: Json;
  /** @default electron's ipcMain */
  ipcMain?: IpcMainLike;
  /** @default electron's shell */
  shell?: ShellLike;
}

export interface AppCoordinator<State = Json, Actions extends ActionLike = Action> {
  /** Resolves with the instance once the app is ready and has joined; rejects with ECLOSED if close() came first. */
  readonly ready: Promise<Instance<State, Actions>>;
  /** The instance, once joined. */
  readonly instance: Instance<State, Actions> | undefined;
  /** This process's Chromium session directory (undefined with `sessionData: 'shared'`). */
  readonly sessionDataPath: string | undefined;
  /** Lets `webContents` use `window.leasehold` (through the preload) and guards it (3); detached when destroyed. */
  attach(webContents: WebContentsLike): () => void;
  /** Hands over and leaves (what quitting does). Idempotent. Before ready it resolves at once: nothing joined. */
  close(): Promise<void>;
  /**
   * Resolves true when this process stays (it owns, or `secondLaunch` is `stay`), false when it forwarded
   * its launch to the owner and exits with the owner's status (`app.exit`): create windows only when true.
   * A forward that fails (no `onLaunch` on the owner, no answer) stays, with the error in `launchError`.
   */
  readonly primary: Promise<boolean>;
  readonly launchError: unknown;
  /** The owner's answer to launches forwarded to it (register it on every launch: any may come to own). */
  onLaunch(fn: LaunchHandler): () => void;
}

/** A file: URL inside `dir`. */
function insideDir(dir: string): (url: URL) => boolean {
  return (url) => {
    if (url.protocol !== 'file:') return false;
    const rel = relative(dir, fileURLToPath(url));
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
}

export function createAppCoordinator<State = Json>(app: AppLike, options?: AppCoordinatorOptions<State>): AppCoordinator<State>;
/** With the app's action union: `reducers` must handle each of its types, and `dispatch()` takes only those. */
export function createAppCoordinator<State, Actions extends ActionLike>(
  app: AppLike,
  options: AppCoordinatorOptions<State, Actions>,
): AppCoordinator<State, Actions>;
export function createAppCoordinator<State, Actions extends ActionLike>(
  app: AppLike,
  options: AppCoordinatorOptions<State, Actions> = {},
): AppCoordinator<State, Actions> {
  const {
    ipcMain: injectedIpc,
    shell: injectedShell,
    commands,
    coalesceMs,
    dataRoot: givenRoot,
    sessionData = 'per-instance',
    trustPage: givenTrust,
    openExternalLinks = false,
    allowPermission = () => false,
    secondLaunch = 'stay',
    launchPayload,
    ...joinOptions
  } = options;
  if (sessionData !== 'per-instance' && sessionData !== 'shared')
    throw new LeaseholdError('EINVALIDCONFIG', "sessionData is 'per-instance' or 'shared'", { field: 'sessionData' });
  if (sessionData === 'per-instance' && app.isReady())
    throw new LeaseholdError(
      'EINVALIDCONFIG',
      "createAppCoordinator must run before the app is ready: it gives this process its own Chromium session data (app.setPath('sessionData') only works before ready); call it at the top of main, or pass sessionData: 'shared'",
      { field: 'sessionData' },
    );
  const electron = () => createRequire(import.meta.url)('electron') as { ipcMain: IpcMainLike; shell: ShellLike };
  const ipcMain = injectedIpc ?? electron().ipcMain;
  const dataRoot = givenRoot ?? app.getPath('userData');
  const trustPage = givenTrust ?? insideDir(app.getAppPath());
  const trusted = (url: string | undefined) => {
    try {
      return typeof url === 'string' && trustPage(new URL(url));
    } catch {
      return false;
    }
  };

  // 1. Before ready, synchronously: Chromium reads sessionData when it starts.
  let session: SessionDir | undefined;
  if (sessionData === 'per-instance') {
    session = createSessionDir(dataRoot);
    app.setPath('sessionData', session.path);
  }

  const attached = new Map<number, { wc: WebContentsLike; connection: BridgeConnection | undefined }>();
  let instance: Instance<State, Actions> | undefined;
  let bridge: RendererBridge | undefined;
  let closing: Promise<void> | undefined;
  let quitting = false;

  /** onLaunch's handlers, each with what unregisters it from the instance once joined. */
  const launchHandlers = new Map<LaunchHandler, (() => void) | undefined>();
  const ready = app.whenReady().then(() => {
    if (closing) throw new LeaseholdError('ECLOSED', 'the coordinator was closed before the app was ready');
    instance = join<State, Actions>({ appVersion: app.getVersion(), ...joinOptions, dataRoot });
    for (const fn of launchHandlers.keys()) launchHandlers.set(fn, handleLaunches(instance, fn));
    bridge = new RendererBridge(instance, { commands, coalesceMs });
    for (const { wc } of attached.values()) subscribe(wc);
    if (session) void sweepSessionDirs(dataRoot, session.path);
    return instance;
  });
  // Rejected only after close(): not an error for an app that never awaits it.
  ready.catch(() => undefined);

  // The second launch: forward to an owner and exit with its status, or stay.
  let launchError: unknown;
  const mode = typeof secondLaunch === 'function' ? secondLaunch(process.argv) : secondLaunch;
  const primary = ready.then(
    async (inst) => {
      if (mode !== 'forward') return true;
      let answer;
      try {
        answer = await forwardLaunch(inst, { argv: process.argv, cwd: process.cwd(), ...(launchPayload !== undefined ? { payload: launchPayload } : {}) });
      } catch (err) {
        launchError = err;
        return true;
      }
      if (!answer.forwarded) return true;
      await close();
      session?.remove();
      app.exit(answer.status);
      return false;
    },
    () => false,
  );

  // 2. Who may call.
  const refuse = (message: string): BridgeReply => ({ ok: false, error: { code: 'EPROTOCOL', message } });
  ipcMain.handle(REQUEST_CHANNEL, async (event: IpcMainInvokeEvent, raw: unknown): Promise<BridgeReply> => {
    if (!attached.has(event.sender.id)) return refuse('this window is not attached to leasehold');
    const frame = event.senderFrame;
    if (!frame || frame.parent !== null) return refuse('only a window’s top frame may use leasehold');
    if (!trusted(frame.url)) return refuse('this page is not one of the app’s own (trustPage)');
    await ready;
    // Connected when the bridge was made (ready); gone if the window was detached meanwhile.
    const connection = attached.get(event.sender.id)?.connection;
    return connection ? connection.handle(raw) : refuse('this window is not attached to leasehold');
  });

  function subscribe(wc: WebContentsLike): void {
    const entry = attached.get(wc.id);
    if (!entry || !bridge) return;
    entry.connection?.close();
    entry.connection = bridge.connect((e) => {
      if (!wc.isDestroyed()) wc.send(EVENT_CHANNEL, e);
    });
  }

  // 3. The checklist, per window.
  function guard(wc: WebContentsLike): void {
    wc.on('will-navigate', (event) => {
      if (!trusted(event.url)) event.preventDefault();
    });
    wc.setWindowOpenHandler(({ url }) => {
      if (openExternalLinks && /^https?:\/\//i.test(url)) void (injectedShell ?? electron().shell).openExternal(url).catch(() => undefined);
      return { action: 'deny' };
    });
    wc.session.setPermissionRequestHandler((_wc, permission, callback, details) => {
      let granted = false;
      try {
        granted = allowPermission(permission, details?.requestingUrl ?? '') === true;
      } catch {
        // a throwing policy grants nothing
      }
      callback(granted);
    });
  }

  function attach(wc: WebContentsLike): () => void {
    if (!attached.has(wc.id)) {
      attached.set(wc.id, { wc, connection: undefined });
      guard(wc);
      wc.once('destroyed', () => detach(wc.id));
      subscribe(wc);
    }
    return () => detach(wc.id);
  }

  function detach(id: number): void {
    attached.get(id)?.connection?.close();
    attached.delete(id);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      // Before ready nothing has joined, and nothing will (ready then rejects with ECLOSED): no wait for
      // an app that may never become ready (a quit during start-up).
      const inst = instance;
      bridge?.close();
      for (const id of [...attached.keys()]) detach(id);
      ipcMain.removeHandler(REQUEST_CHANNEL);
      await inst?.close();
    })();
    return closing;
  }

  // 4. Quitting: hand over first, then let the quit proceed; the session directory goes last.
  app.on('before-quit', (event) => {
    if (quitting) return;
    event.preventDefault();
    void close().finally(() => {
      quitting = true;
      app.quit();
    });
  });
  app.on('quit', () => session?.remove());

  return {
    ready,
    primary,
    get launchError() {
      return launchError;
    },
    onLaunch(fn) {
      launchHandlers.set(fn, instance ? handleLaunches(instance, fn) : undefined);
      return () => {
        launchHandlers.get(fn)?.();
        launchHandlers.delete(fn);
      };
    },
    get instance() {
      return instance;
    },
    sessionDataPath: session?.path,
    attach,
    close,
  };
}
