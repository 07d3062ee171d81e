/**
 * `leasehold/electron`, main process: `createAppCoordinator(app, options)`.
 *
 *   app ready ──▶ join({ dataRoot: userData }) ──▶ RendererBridge ──ipcMain.handle──▶ attached windows
 *   before-quit ──▶ preventDefault, instance.close() (graceful handover) ──▶ app.quit() again
 *
 * Guarantees: only webContents you `attach()` may call (others get EPROTOCOL), and only from their main
 * frame; every request is validated (see bridge.ts); quitting hands over before the process exits (the
 * next owner serves within milliseconds), and a second quit during the handover is not blocked.
 * Not guaranteed: a handover when the process is killed or crashes (then followers take over by failover).
 *
 * This folder is the only one that imports electron; here only its types, so this logic runs (and is
 * tested) without an Electron binary. `ipcMain` is taken from electron at run time unless injected.
 */
import { createRequire } from 'node:module';
import type { App, IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { join, type Instance } from '../coordinator.js';
import type { JoinOptions } from '../config.js';
import { RendererBridge, type RendererBridgeOptions } from './bridge.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL, type BridgeReply } from './renderer-api.js';

export type AppLike = Pick<App, 'whenReady' | 'getPath' | 'on' | 'quit'>;
export type IpcMainLike = Pick<IpcMain, 'handle' | 'removeHandler'>;
export type WebContentsLike = Pick<WebContents, 'id' | 'send' | 'once' | 'isDestroyed' | 'mainFrame'>;

export interface AppCoordinatorOptions extends Omit<JoinOptions, 'dataRoot'>, Pick<RendererBridgeOptions, 'commands' | 'coalesceMs'> {
  /** @default app.getPath('userData') */
  dataRoot?: string;
  /** @default electron's ipcMain */
  ipcMain?: IpcMainLike;
}

export interface AppCoordinator {
  /** Resolves with the instance once the app is ready and has joined. */
  readonly ready: Promise<Instance>;
  /** The instance, once joined. */
  readonly instance: Instance | undefined;
  /** Lets `webContents` use `window.leasehold` (through the preload); detached when it is destroyed. */
  attach(webContents: WebContentsLike): () => void;
  /** Hands over and leaves (what quitting does). Idempotent. */
  close(): Promise<void>;
}

export function createAppCoordinator(app: AppLike, options: AppCoordinatorOptions = {}): AppCoordinator {
  const { ipcMain: injectedIpc, commands, coalesceMs, dataRoot, ...joinOptions } = options;
  const ipcMain = injectedIpc ?? (createRequire(import.meta.url)('electron') as { ipcMain: IpcMainLike }).ipcMain;
  const attached = new Map<number, { wc: WebContentsLike; stop: () => void }>();
  let instance: Instance | undefined;
  let bridge: RendererBridge | undefined;
  let closing: Promise<void> | undefined;
  let quitting = false;

  const ready = app.whenReady().then(() => {
    instance = join({ ...joinOptions, dataRoot: dataRoot ?? app.getPath('userData') });
    bridge = new RendererBridge(instance, { commands, coalesceMs });
    for (const { wc } of attached.values()) subscribe(wc);
    return instance;
  });

  const refuse = (message: string): BridgeReply => ({ ok: false, error: { code: 'EPROTOCOL', message } });
  ipcMain.handle(REQUEST_CHANNEL, async (event: IpcMainInvokeEvent, raw: unknown): Promise<BridgeReply> => {
    if (!attached.has(event.sender.id)) return refuse('this window is not attached to leasehold');
    if (event.senderFrame !== event.sender.mainFrame) return refuse('only a window’s main frame may use leasehold');
    await ready;
    return bridge!.handle(raw);
  });

  function subscribe(wc: WebContentsLike): void {
    const entry = attached.get(wc.id);
    if (!entry || !bridge) return;
    entry.stop();
    entry.stop = bridge.subscribe((e) => {
      if (!wc.isDestroyed()) wc.send(EVENT_CHANNEL, e);
    });
  }

  function attach(wc: WebContentsLike): () => void {
    if (!attached.has(wc.id)) {
      attached.set(wc.id, { wc, stop: () => undefined });
      wc.once('destroyed', () => detach(wc.id));
      subscribe(wc);
    }
    return () => detach(wc.id);
  }

  function detach(id: number): void {
    attached.get(id)?.stop();
    attached.delete(id);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const inst = instance ?? (await ready.catch(() => undefined));
      bridge?.close();
      for (const id of [...attached.keys()]) detach(id);
      ipcMain.removeHandler(REQUEST_CHANNEL);
      await inst?.close();
    })();
    return closing;
  }

  // Quitting: hand over first, then let the quit proceed.
  app.on('before-quit', (event) => {
    if (quitting) return;
    event.preventDefault();
    void close().finally(() => {
      quitting = true;
      app.quit();
    });
  });

  return {
    ready,
    get instance() {
      return instance;
    },
    attach,
    close,
  };
}
