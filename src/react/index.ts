/**
 * `leasehold/react`: React hooks over the page's API (`connectLeasehold()` from leasehold/electron/renderer),
 * on `useSyncExternalStore`. React is an optional peer dependency: only apps that import this use it.
 *
 *   useShared<T>(path)            the value at `path`, and only that path crosses from the main process
 *   useSharedState(selector)      a value derived from the whole state (the whole state crosses: prefer
 *                                 useShared for big states)
 *   useRole()                     this instance as the window shows it (role, epoch, owner, instances)
 *   useDispatch<Actions>()        dispatch(action) → the committed version (rejects with err.code)
 *   useLeasehold()                the API itself (set, increment, batch, command, …)
 *
 * Components under `<LeaseholdProvider api={…}>` use that API; without a provider, `connectLeasehold()`.
 *
 * Guarantees: every component reading one path shares one watch of it; a component re-renders only when
 * its value changed (by identity for `useShared`, by `isEqual` (default Object.is) for `useSharedState`);
 * the value is `undefined` until the first one arrives. Like the page API, it imports no Node or Electron
 * code. Not guaranteed: a render for every version (changes are coalesced, as for `watch`).
 */
import { createContext, createElement, useCallback, useContext, useRef, useSyncExternalStore, type ReactNode } from 'react';
import {
  connectLeasehold,
  type Action,
  type ActionLike,
  type InstanceView,
  type Json,
  type LeaseholdRendererApi,
} from '../electron/renderer-api.js';

/** One value read from the API, shared by every component that reads it. */
interface Source<T> {
  subscribe(onChange: () => void): () => void;
  get(): T | undefined;
}

const pathSources = new WeakMap<object, Map<string, Source<Json>>>();
const statusSources = new WeakMap<object, Source<InstanceView>>();

/**
 * A value that `start` keeps current through `set` while at least one component subscribes; `start`
 * returns the function that stops it (called when the last one unsubscribes).
 */
function sharedSource<T>(start: (set: (value: T) => void) => () => void): Source<T> {
  let value: T | undefined;
  const listeners = new Set<() => void>();
  let stop: (() => void) | undefined;
  const set = (v: T) => {
    value = v;
    for (const l of [...listeners]) l();
  };
  return {
    get: () => value,
    subscribe(onChange) {
      listeners.add(onChange);
      stop ??= start(set);
      return () => {
        listeners.delete(onChange);
        if (listeners.size === 0) {
          stop?.();
          stop = undefined;
        }
      };
    },
  };
}

/** The value at `path` of `api`: watched while at least one component subscribes. */
export function pathSource(api: LeaseholdRendererApi<unknown>, path: string): Source<Json> {
  let byPath = pathSources.get(api);
  if (!byPath) pathSources.set(api, (byPath = new Map()));
  let source = byPath.get(path);
  if (!source) byPath.set(path, (source = sharedSource<Json>((set) => api.watch(path, (v) => set(v as Json)))));
  return source;
}

/** This instance's status, from `status()` and every status event after it. */
export function statusSource(api: LeaseholdRendererApi<unknown>): Source<InstanceView> {
  let source = statusSources.get(api);
  if (!source) {
    source = sharedSource<InstanceView>((set) => {
      let seenEvent = false;
      const stop = api.onEvent((e) => {
        if (e.type !== 'status') return;
        seenEvent = true;
        set(e.status);
      });
      // The status now; an event that arrived meanwhile is newer.
      api.status().then(
        (s) => seenEvent || set(s),
        () => undefined,
      );
      return stop;
    });
    statusSources.set(api, source);
  }
  return source;
}

const ApiContext = createContext<LeaseholdRendererApi<unknown> | undefined>(undefined);

/** Gives the components under it `api` instead of `connectLeasehold()`'s (tests, or a second bridge). */
export function LeaseholdProvider(props: { api: LeaseholdRendererApi<unknown>; children?: ReactNode }): ReactNode {
  return createElement(ApiContext.Provider, { value: props.api }, props.children);
}

/** The page's API: the provider's, or `connectLeasehold()`. */
export function useLeasehold<State = Json, Actions extends ActionLike = Action>(): LeaseholdRendererApi<State, Actions> {
  const provided = useContext(ApiContext);
  return (provided ?? connectLeasehold()) as unknown as LeaseholdRendererApi<State, Actions>;
}

/** The value at `path` (`undefined` until it arrives, or where nothing is). Only that path crosses. */
export function useShared<T = Json>(path: string): T | undefined {
  const source = pathSource(useLeasehold(), path);
  return useSyncExternalStore(source.subscribe, source.get) as T | undefined;
}

/**
 * A value derived from the whole state by `selector` (`undefined` until the state arrives). The component
 * re-renders only when the selection changes by `isEqual`. The whole state crosses to this window.
 */
export function useSharedState<State, T>(selector: (state: State) => T, isEqual: (a: T, b: T) => boolean = Object.is): T | undefined {
  const source = pathSource(useLeasehold(), '');
  const last = useRef<{ state: unknown; selector: unknown; selection: T } | undefined>(undefined);
  const getSelection = useCallback((): T | undefined => {
    const state = source.get();
    if (state === undefined) return undefined;
    const prev = last.current;
    if (prev && prev.state === state && prev.selector === selector) return prev.selection;
    const selection = selector(state as State);
    // Keep the previous selection when equal, so that React sees the same value and skips the render.
    if (prev && isEqual(prev.selection, selection)) {
      last.current = { state, selector, selection: prev.selection };
      return prev.selection;
    }
    last.current = { state, selector, selection };
    return selection;
  }, [source, selector, isEqual]);
  return useSyncExternalStore(source.subscribe, getSelection);
}

/** This instance as the window shows it (`undefined` until the first status arrives). */
export function useRole(): InstanceView | undefined {
  const source = statusSource(useLeasehold());
  return useSyncExternalStore(source.subscribe, source.get);
}

/** `dispatch(action)`: runs the reducer on the owner; resolves with the committed version. Typed by `Actions`. */
export function useDispatch<Actions extends ActionLike = Action>(): (action: Actions) => Promise<number> {
  return useLeasehold<Json, Actions>().dispatch;
}
