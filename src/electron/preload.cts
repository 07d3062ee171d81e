/**
 * The preload: exposes `window.leasehold` (see renderer-api.ts) through contextBridge. Written for
 * `sandbox: true` and `contextIsolation: true`: it requires nothing but electron (a sandboxed preload
 * cannot load other files), so the channel names are repeated here; a test checks they match.
 *
 * Use: `new BrowserWindow({ webPreferences: { preload: require.resolve('leasehold/electron/preload'),
 * sandbox: true, contextIsolation: true, nodeIntegration: false } })`, then `coordinator.attach(win.webContents)`.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { BridgeEvent, BridgeReply, LeaseholdRendererApi } from './renderer-api.js';

const REQUEST = 'leasehold:request';
const EVENT = 'leasehold:event';

async function call(request: unknown): Promise<unknown> {
  const reply = (await ipcRenderer.invoke(REQUEST, request)) as BridgeReply;
  if (reply && reply.ok) return reply.value;
  const err = new Error(reply?.error?.message ?? 'leasehold request failed') as Error & { code: string };
  err.code = reply?.error?.code ?? 'EPROTOCOL';
  throw err;
}

const mutate = (mutation: unknown) => call({ op: 'mutate', mutation }) as Promise<number>;
const listeners = new Set<(e: BridgeEvent) => void>();
ipcRenderer.on(EVENT, (_event: unknown, e: BridgeEvent) => {
  for (const l of listeners)
    try {
      l(e);
    } catch (err) {
      console.error('leasehold: an onEvent listener threw', err);
    }
});

const api: LeaseholdRendererApi = {
  status: () => call({ op: 'status' }) as ReturnType<LeaseholdRendererApi['status']>,
  get: () => call({ op: 'get' }) as ReturnType<LeaseholdRendererApi['get']>,
  timeline: () => call({ op: 'timeline' }) as ReturnType<LeaseholdRendererApi['timeline']>,
  set: (path, value) => mutate({ op: 'set', path, value }),
  delete: (path) => mutate({ op: 'delete', path }),
  increment: (path, by = 1) => mutate({ op: 'increment', path, by }),
  push: (path, value) => mutate({ op: 'push', path, value }),
  removeAt: (path, index) => mutate({ op: 'remove-at', path, index }),
  batch: (ops) => mutate({ op: 'batch', ops }),
  dispatch: (action) =>
    mutate({ op: 'dispatch', type: action?.type, ...(action && 'payload' in action ? { payload: action.payload } : {}) }),
  command: (name) => call({ op: 'command', name }),
  onEvent: (listener) => {
    if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
    listeners.add(listener);
    return () => void listeners.delete(listener);
  },
};

contextBridge.exposeInMainWorld('leasehold', api);
