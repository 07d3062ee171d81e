/**
 * A stand-in for Electron's `contextBridge` and the `ipcRenderer` copy step, with the value semantics of
 * the real ones, so that a preload that only works with a plain property fails here as it would in Electron.
 *
 * Modelled on electron/electron `shell/renderer/api/electron_api_context_bridge.cc`
 * (PassValueToOtherContextInner, ProxyFunctionWrapper, CreateProxyForAPI, DeepFreeze) and
 * `docs/api/context-bridge.md` ("Parameter / Error / Return Type support"):
 *  - primitives pass as they are;
 *  - a function is proxied: its arguments are passed into its world and its result back, each by these
 *    rules; whatever it throws reaches the caller as `new Error(message)` (only the message survives);
 *  - a promise is proxied: its value is passed by these rules, and a rejection with an Error becomes
 *    `new Error(message)` (custom properties such as `code` are lost: electron#25596);
 *  - an Error becomes `new Error(message)`;
 *  - an array is copied element by element, a plain object (any object not in the list below) by its own
 *    enumerable string keys, its prototype dropped;
 *  - anything else (Date, RegExp, Map, Set, ArrayBuffer and views, WeakMap, …) is structured-cloned, and
 *    a value the structured clone cannot copy throws;
 *  - `exposeInMainWorld` refuses a key the window already has and deep-freezes what it exposes.
 * The real bridge crosses between two V8 worlds; here both sides are one world, so identity checks across
 * the bridge (e.g. `instanceof` of the other world's constructors) are not modelled.
 *
 * `ipcRenderer.invoke` and `webContents.send` copy their arguments with the structured clone algorithm
 * (electron `docs/api/ipc-renderer.md`): functions, promises and symbols throw. {@link ipcCopy} does that.
 *
 * Each function here is self-contained (no closure over this module), so a test can run it in a page as
 * `(${createFakeContextBridge})(window)`.
 */

export interface FakeContextBridge {
  exposeInMainWorld(key: string, api: unknown): void;
  /** Passes one value across, as an exposed function's argument or result would be. */
  pass(value: unknown): unknown;
}

export function createFakeContextBridge(mainWorld: Record<string, unknown>): FakeContextBridge {
  const MAX_DEPTH = 1000;
  const UNKNOWN_THROW = 'An unknown exception occurred in the isolated context, an error occurred but a valid exception was not thrown.';
  const isError = (v: object) => Object.prototype.toString.call(v) === '[object Error]' || v instanceof Error;
  const messageOf = (e: unknown) =>
    e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string'
      ? (e as { message: string }).message
      : UNKNOWN_THROW;
  // Not "plain": these go to V8's serializer (electron: IsPlainObject's exclusion list).
  const serialized = (v: object) =>
    v instanceof Date ||
    v instanceof RegExp ||
    v instanceof Map ||
    v instanceof Set ||
    v instanceof WeakMap ||
    v instanceof WeakSet ||
    v instanceof ArrayBuffer ||
    ArrayBuffer.isView(v) ||
    v instanceof Boolean ||
    v instanceof Number ||
    v instanceof String ||
    Object.prototype.toString.call(v) === '[object Generator]';

  function pass(value: unknown, cache: Map<unknown, unknown>, depth: number, receiver: unknown): unknown {
    if (depth >= MAX_DEPTH) throw new TypeError('Electron contextBridge recursion depth exceeded.');
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
    if (cache.has(value)) return cache.get(value);
    if (typeof value === 'function') {
      const fn = value as (...args: unknown[]) => unknown;
      const proxy = function (this: unknown, ...args: unknown[]) {
        const argCache = new Map<unknown, unknown>();
        const passed = args.map((a) => pass(a, argCache, 0, undefined));
        let result: unknown;
        try {
          result = fn.apply(receiver, passed);
        } catch (e) {
          throw new Error(messageOf(e));
        }
        try {
          return pass(result, new Map(), 0, undefined);
        } catch (e) {
          throw new Error(messageOf(e));
        }
      };
      cache.set(value, proxy);
      return proxy;
    }
    if (value instanceof Promise) {
      const proxied = new Promise((resolve, reject) => {
        value.then(
          (v) => {
            try {
              resolve(pass(v, new Map(), 0, undefined));
            } catch (e) {
              reject(new Error(messageOf(e)));
            }
          },
          (e) => {
            try {
              reject(pass(e, new Map(), 0, undefined));
            } catch (err) {
              reject(new Error(messageOf(err)));
            }
          },
        );
      });
      cache.set(value, proxied);
      return proxied;
    }
    if (isError(value)) return new Error(messageOf(value));
    if (Array.isArray(value)) {
      const copy: unknown[] = [];
      cache.set(value, copy);
      for (const item of value) copy.push(pass(item, cache, depth + 1, value));
      return copy;
    }
    if (serialized(value)) {
      const copy = structuredClone(value); // throws DataCloneError for what it cannot copy
      cache.set(value, copy);
      return copy;
    }
    const copy: Record<string, unknown> = {};
    cache.set(value, copy);
    for (const key of Object.keys(value))
      Object.defineProperty(copy, key, {
        value: pass((value as Record<string, unknown>)[key], cache, depth + 1, value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return copy;
  }

  function deepFreeze(v: unknown, seen: Set<unknown>): void {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return;
    seen.add(v);
    for (const key of Object.getOwnPropertyNames(v)) {
      const child = (v as Record<string, unknown>)[key];
      if (!ArrayBuffer.isView(child)) deepFreeze(child, seen);
    }
    Object.freeze(v);
  }

  return {
    exposeInMainWorld(key: string, api: unknown) {
      if (key in mainWorld) throw new Error(`Cannot bind an API on top of an existing property on the window object`);
      const proxy = pass(api, new Map(), 0, undefined);
      if (proxy !== null && typeof proxy === 'object') deepFreeze(proxy, new Set());
      Object.defineProperty(mainWorld, key, { value: proxy, enumerable: true });
    },
    pass: (value: unknown) => pass(value, new Map(), 0, undefined),
  };
}

/** What ipcRenderer.invoke and webContents.send do to their arguments: a structured clone (throws on functions). */
export function ipcCopy<T>(value: T): T {
  return structuredClone(value);
}
