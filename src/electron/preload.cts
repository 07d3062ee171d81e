/**
 * The preload: exposes `window.leaseholdBridge` (see renderer-api.ts) through contextBridge; the page
 * turns it into `window.leasehold` with `connectLeasehold()` from `leasehold/electron/renderer`.
 *
 * Written for `sandbox: true` and `contextIsolation: true`: it requires nothing but electron (a sandboxed
 * preload cannot load other files), so the channel names are repeated here; a test checks they match.
 *
 * Guarantees: `invoke` never rejects: what main answers is passed on as it is, and a request that cannot
 * be sent (a value the structured clone refuses, or no handler in main) is `{ok: false, error: {code:
 * 'EPROTOCOL', message}}`. Only plain values and functions cross, so nothing is lost by contextBridge,
 * which keeps only the message of an Error (electron#25596).
 *
 * Use: `new BrowserWindow({ webPreferences: { preload: <path of leasehold/electron/preload>, sandbox: true,
 * contextIsolation: true, nodeIntegration: false } })`, then `coordinator.attach(win.webContents)`.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { BridgeEvent, BridgeReply, BridgeRequest, LeaseholdBridge } from './renderer-api.js';

const REQUEST = 'leasehold:request';
const EVENT = 'leasehold:event';
const KEY = 'leaseholdBridge';

const listeners = new Set<(e: BridgeEvent) => void>();
ipcRenderer.on(EVENT, (_event: unknown, e: BridgeEvent) => {
  for (const l of listeners)
    try {
      l(e);
    } catch (err) {
      console.error('leasehold: an onEvent listener threw', err);
    }
});

const bridge: LeaseholdBridge = {
  invoke: async (request: BridgeRequest): Promise<BridgeReply> => {
    try {
      const reply = (await ipcRenderer.invoke(REQUEST, request)) as BridgeReply;
      if (reply && typeof reply === 'object' && typeof reply.ok === 'boolean') return reply;
      return { ok: false, error: { code: 'EPROTOCOL', message: 'main answered with something that is not a leasehold reply' } };
    } catch (err) {
      const message = String((err as Error)?.message ?? err).slice(0, 1000);
      return { ok: false, error: { code: 'EPROTOCOL', message: `the request could not be sent: ${message}` } };
    }
  },
  onEvent: (listener) => {
    if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
    listeners.add(listener);
    return () => void listeners.delete(listener);
  },
};

contextBridge.exposeInMainWorld(KEY, bridge);
