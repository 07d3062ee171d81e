/**
 * `leasehold/electron/renderer`: the renderer ⇄ main contract, and the page's side of it. It imports no
 * Node, Electron or leasehold runtime (only json.ts's types), so a renderer compiled with
 * `lib: ["DOM", "ES2022"], types: []` can import it, and the main glue, the preload, the example app and
 * the tests share one definition.
 *
 *   page                        preload (isolated world)           main
 *   connectLeasehold().set(…) ─▶ leaseholdBridge.invoke(request) ─▶ ipcRenderer.invoke('leasehold:request', BridgeRequest)
 *        rejects with           ◀── resolves with BridgeReply    ◀── {ok: true, value} | {ok: false, error: {code, message}}
 *        LeaseholdRendererError {code, message}
 *   onEvent(listener)           ◀── leaseholdBridge.onEvent      ◀── webContents.send('leasehold:event', BridgeEvent)
 *
 * Why a reply object and not a rejection: Electron's contextBridge rebuilds an Error that crosses it from
 * its message alone (electron#25596), so an Error thrown in the preload reaches the page without `code`.
 * A plain object is copied whole. So the preload resolves every request with a BridgeReply, and
 * {@link connectLeasehold}, which runs in the page, turns `{ok: false}` into a rejected Error with `code`.
 *
 * Guarantees: every method of {@link LeaseholdRendererApi} rejects with a {@link LeaseholdRendererError}
 * (an Error with `code` from leasehold's table) when leasehold refuses or cannot deliver a request.
 * Not guaranteed: the type parameter of `connectLeasehold<State>()` is a promise of the caller's, not a
 * check: nothing validates the shared state against it.
 */
import type { ElementAt, Path, PathTo, SetValue, ValueAt } from '../state/paths.js';
import type { Action, ActionLike, Json, Mutation } from '../state/json.js';

export type { Action, ActionLike, Json, Mutation };

export const REQUEST_CHANNEL = 'leasehold:request';
export const EVENT_CHANNEL = 'leasehold:event';
/** The window property the preload exposes {@link LeaseholdBridge} as. */
export const BRIDGE_KEY = 'leaseholdBridge';

/** One instance connected to the owner. */
export interface InstanceSummary {
  instanceId: string;
  name: string;
  pid: number;
  role: 'owner' | 'follower';
  /** Wall-clock ms when it joined this owner (for display). */
  since: number;
}

/** This instance as a window shows it. */
export interface InstanceView {
  /** `failed`: the journal is damaged, or this app is older than the state or the owner (restart to update): the timeline says which. */
  role: 'starting' | 'owner' | 'follower' | 'failed' | 'closed';
  epoch: number;
  instanceId: string;
  name: string;
  pid: number;
  connected: boolean;
  owner: { instanceId: string; name: string; pid: number } | null;
  /** Everyone connected to the owner, the owner first. */
  instances: InstanceSummary[];
  version: number;
}

export interface TimelineEntry {
  /** Wall-clock ms, for display. */
  at: number;
  epoch: number;
  what: string;
}

export type BridgeEvent =
  | { type: 'status'; status: InstanceView }
  /**
   * The watched paths whose value changed, as of `version` (coalesced: at most one per `coalesceMs`).
   * A path with nothing at it has the value undefined.
   */
  | { type: 'values'; version: number; values: Record<string, Json | undefined> }
  | { type: 'timeline'; entry: TimelineEntry };

/** The answer to `watch`: the current value of every watched path. */
export interface WatchReply {
  version: number;
  values: Record<string, Json | undefined>;
}

export type BridgeRequest =
  | { op: 'status' }
  | { op: 'get' }
  | { op: 'timeline' }
  | { op: 'mutate'; mutation: Mutation }
  /** The paths this window wants values for from now on (replacing the previous set); '' is the whole state. */
  | { op: 'watch'; paths: string[] }
  /** An app command the host registered (for the example app: new-window, launch-instance, quit). */
  | { op: 'command'; name: string };

export type BridgeReply = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

/** What the preload exposes as `window.leaseholdBridge`: values only, so that it crosses contextBridge whole. */
export interface LeaseholdBridge {
  /** Never rejects: a failure is `{ok: false, error: {code, message}}`. */
  invoke(request: BridgeRequest): Promise<BridgeReply>;
  /** Calls `listener` with every event; returns a function that stops it. */
  onEvent(listener: (event: BridgeEvent) => void): () => void;
}

/** `connectLeasehold<State>()`, also `window.leasehold`. Every method returns a promise; failures reject with a {@link LeaseholdRendererError}. */
export interface LeaseholdRendererApi<State = Json, Actions extends ActionLike = Action> {
  status(): Promise<InstanceView>;
  get(): Promise<{ version: number; state: State }>;
  timeline(): Promise<TimelineEntry[]>;
  /** Paths and values are checked by TypeScript for a typed `State` (state/paths.ts); the owner checks them at run time. */
  set<P extends Path<State>>(path: P, value: SetValue<State, P>): Promise<number>;
  delete(path: Path<State>): Promise<number>;
  increment(path: PathTo<State, number>, by?: number): Promise<number>;
  push<P extends PathTo<State, readonly unknown[]>>(path: P, value: ElementAt<State, P>): Promise<number>;
  removeAt(path: PathTo<State, readonly unknown[]>, index: number): Promise<number>;
  batch(ops: Mutation[]): Promise<number>;
  dispatch(action: Actions): Promise<number>;
  command(name: string): Promise<unknown>;
  /**
   * Calls `listener` with the value at `path` ('' for the whole state; undefined where nothing is), now and
   * after every change of it (coalesced), with the version it is as of. Only the paths some listener of
   * this page watches cross from the main process. Returns a function that stops it.
   */
  watch(path: '', listener: (state: State, version: number) => void): () => void;
  watch<P extends Path<State>>(path: P, listener: (value: ValueAt<State, P> | undefined, version: number) => void): () => void;
  /** Calls `listener` with every status, timeline and values event; returns a function that stops it. A listener that throws is reported, not propagated. */
  onEvent(listener: (event: BridgeEvent) => void): () => void;
}

/** A refused or undeliverable request, in the page: `code` is one of leasehold's error codes (errors.ts). */
export class LeaseholdRendererError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'LeaseholdRendererError';
    this.code = code;
  }
}

let connected: LeaseholdRendererApi<unknown> | undefined;

/**
 * The page's API over `window.leaseholdBridge` (exposed by `leasehold/electron/preload`); it is also made
 * `window.leasehold` (if that is free), for code that does not import this module. Call it in the page,
 * not in the preload. Throws EINVALIDCONFIG when the bridge is missing (the window's preload is not
 * leasehold's).
 */
export function connectLeasehold<State = Json, Actions extends ActionLike = Action>(bridge?: LeaseholdBridge): LeaseholdRendererApi<State, Actions> {
  const global = globalThis as unknown as Record<string, unknown>;
  if (!bridge && connected) return connected as unknown as LeaseholdRendererApi<State, Actions>;
  const b = bridge ?? (global[BRIDGE_KEY] as LeaseholdBridge | undefined);
  if (!b || typeof b.invoke !== 'function' || typeof b.onEvent !== 'function')
    throw new LeaseholdRendererError(
      'EINVALIDCONFIG',
      `window.${BRIDGE_KEY} is missing: give the window the preload leasehold/electron/preload, and attach() its webContents`,
    );

  const call = async (request: BridgeRequest): Promise<unknown> => {
    const reply = await b.invoke(request);
    if (reply?.ok === true) return reply.value;
    throw new LeaseholdRendererError(reply?.error?.code ?? 'EPROTOCOL', reply?.error?.message ?? 'leasehold refused the request');
  };
  const mutate = (mutation: Mutation) => call({ op: 'mutate', mutation }) as Promise<number>;
  const listeners = new Set<(e: BridgeEvent) => void>();
  let stop: (() => void) | undefined;
  const report = (err: unknown) => console.error('leasehold: a listener threw', err);
  const onEvent = (listener: (e: BridgeEvent) => void): (() => void) => {
    if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
    listeners.add(listener);
    // One subscription across the bridge, shared by every listener of this page.
    stop ??= b.onEvent((e) => {
      for (const l of [...listeners])
        try {
          l(e);
        } catch (err) {
          report(err);
        }
    });
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) {
        stop?.();
        stop = undefined;
      }
    };
  };

  // watch(): per path, its listeners and the newest value delivered (events and replies may cross).
  interface Watched {
    listeners: Set<(value: never, version: number) => void>;
    version: number;
    value: Json | undefined;
  }
  const watched = new Map<string, Watched>();
  let stopValues: (() => void) | undefined;
  const deliver = (path: string, value: Json | undefined, version: number, only?: (value: never, version: number) => void) => {
    const w = watched.get(path);
    // A newer value only (a reply and an event may both carry one version); a new listener gets the current.
    if (!w || (!only && version <= w.version)) return;
    w.version = version;
    w.value = value;
    for (const l of only ? [only] : [...w.listeners])
      try {
        l(value as never, version);
      } catch (err) {
        report(err);
      }
  };
  const sendWatch = () =>
    call({ op: 'watch', paths: [...watched.keys()] }).then(
      (reply) => {
        const r = reply as WatchReply;
        for (const [path, value] of Object.entries(r.values)) deliver(path, value, r.version);
      },
      (err: unknown) => report(err),
    );

  const api: LeaseholdRendererApi<State, Actions> = {
    status: () => call({ op: 'status' }) as Promise<InstanceView>,
    get: () => call({ op: 'get' }) as Promise<{ version: number; state: State }>,
    timeline: () => call({ op: 'timeline' }) as Promise<TimelineEntry[]>,
    set: (path, value) => mutate({ op: 'set', path, value: value as Json }),
    delete: (path) => mutate({ op: 'delete', path }),
    increment: (path, by = 1) => mutate({ op: 'increment', path, by }),
    push: (path, value) => mutate({ op: 'push', path, value: value as Json }),
    removeAt: (path, index) => mutate({ op: 'remove-at', path, index }),
    batch: (ops) => mutate({ op: 'batch', ops }),
    dispatch: (action) =>
      // The payload's type is the app's promise; the bridge checks that it is JSON.
      mutate({ op: 'dispatch', type: action?.type, ...(action && 'payload' in action ? { payload: action.payload as Json } : {}) }),
    command: (name) => call({ op: 'command', name }),
    watch: (path: string, listener: (value: never, version: number) => void) => {
      if (typeof path !== 'string' || typeof listener !== 'function') throw new TypeError('watch needs a path and a function');
      const l = listener as (value: never, version: number) => void;
      let w = watched.get(path);
      if (w) {
        w.listeners.add(l);
        // Already watched: this listener gets the value the others have (if one arrived yet).
        if (w.version >= 0) deliver(path, w.value, w.version, l);
      } else {
        watched.set(path, (w = { listeners: new Set([l]), version: -1, value: undefined }));
        stopValues ??= onEvent((e) => {
          if (e.type === 'values') for (const [p, v] of Object.entries(e.values)) deliver(p, v, e.version);
        });
        void sendWatch();
      }
      return () => {
        const cur = watched.get(path);
        if (!cur?.listeners.delete(l) || cur.listeners.size > 0) return;
        watched.delete(path);
        if (watched.size === 0) {
          stopValues?.();
          stopValues = undefined;
        }
        void sendWatch();
      };
    },
    onEvent,
  };
  Object.freeze(api);
  if (!bridge) {
    connected = api as unknown as LeaseholdRendererApi<unknown>;
    if (!('leasehold' in global)) Object.defineProperty(global, 'leasehold', { value: api, enumerable: true });
  }
  return api;
}
