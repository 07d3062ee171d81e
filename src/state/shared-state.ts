/**
 * The shared state as every instance sees it: `get()`, `subscribe()`, `whenSynced()`, and mutations that
 * resolve with the committed version once the owner has applied and persisted them.
 *
 * Exactly once: each mutation carries (instanceId, seq). Until acknowledged it stays pending here and is
 * sent again to every new owner (the owner's dedup table, recovered with the state, drops repeats). A
 * mutation sent as the owner died has an unknown outcome until the next owner answers; it is never lost
 * and never applied twice. While no owner is reachable, at most `maxPendingMutations` wait; one more is
 * refused with EFULL.
 *
 * A `durable: false` mutation is acknowledged once applied, before its owner's journal flush; it stays in
 * the replay set until a committed change at or after its acknowledged version arrives from the same owner
 * (the changes come in version order, each after its flush). So if that owner stops or loses its lease
 * before the flush, the mutation is sent again to the next owner, and applied there exactly once (its
 * dedup table comes from the journal: a flushed one is a repeat). Lost only when the acknowledging owner
 * dies before its flush and this instance dies (or closes) before it saw the commit. Its promise keeps the
 * first version acknowledged, which, in that case only, is not the version it ends up at.
 *
 * Reading: `get()` is the whole document and `at(path)` the value at a path, both plain JSON, deeply
 * frozen, of which unchanged parts keep their identity from one version to the next. The replica holds
 * objects wider than WIDE_OBJECT_MIN_KEYS as persistent maps (wide-object.ts), so that a change costs
 * O(depth × log width) here and on the owner; the plain view of such an object is built when it is read,
 * O(width) once per version of it. So `get()`, and `subscribe()` listeners (who receive the whole
 * document at every change), pay O(width) for each wide object that changed since the last read; `at()`
 * pays O(depth × log width) plus the view of what it returns.
 */
import type { ElementAt, Path, PathTo, SetValue, ValueAt } from './paths.js';
import type { Action, ActionLike } from './json.js';
import { LeaseholdError } from '../errors.js';
import { Waiters } from '../events.js';
import { getAt, type Doc, type Json, type Mutation } from './document.js';
import { applyFrozen, freezeDeep } from './reducers.js';
import { view } from './wide-object.js';

export interface Change {
  version: number;
  mutation: Json;
  /** Who sent it: [instanceId, seq], or null. */
  id: [string, number] | null;
}

/** Per mutation. */
export interface MutateOptions {
  /**
   * false: the owner acknowledges once it has applied the mutation, before its journal flush. Faster, but
   * an owner crash (or power loss) in the next millisecond or so can lose it. @default true
   */
  durable?: boolean;
}

interface Pending {
  seq: number;
  m: Mutation;
  durable: boolean;
  resolve: (v: number) => void;
  reject: (e: unknown) => void;
  /** Not durable: the version it was acknowledged at (its promise is resolved), until it is seen committed; else 0. */
  acked: number;
}

/** Where mutations go right now: the local owner, a link to the owner, or nowhere (queued). */
export interface Route {
  send(seq: number, m: Mutation, durable: boolean): void;
}

/**
 * What only the instance and the state layer call: the owner's answers applied to the replica, and where
 * mutations go. Kept off the public class (an app calling `adopt` or `ack` would corrupt its replica): it is
 * reached through `replicaOf()`, which src/index.ts does not export.
 */
export interface Replica {
  readonly version: number;
  /** The document as of `version` (deeply frozen). */
  readonly state: Doc;
  /** The id of the change that produced the current version, when known (a resync checks it). */
  readonly lastId: [string, number] | null | undefined;
  /**
   * A new way to the owner (or none): everything not yet known committed is sent again, in order, acknowledged
   * `durable: false` ones included. The instance calls this the moment it leaves an owner, before any await:
   * what is sent from then on waits for the next owner.
   */
  setRoute(route: Route | undefined): void;
  /**
   * An owner applied `seq` at `version`: committed (durable), or to be confirmed by a change. `from`: the
   * route it came over, when that may no longer be the current one; a `durable: false` acknowledgement from
   * an old route resolves the promise but stays in the replay set (it was already sent to the new route).
   */
  ack(seq: number, version: number, from?: Route): void;
  nack(seq: number, err: LeaseholdError): void;
  /**
   * While `err` is set, new mutations are refused with it at once instead of waiting (no owner can serve:
   * the journal is damaged). Those already pending keep waiting for the next owner.
   */
  refuse(err: LeaseholdError | undefined): void;
  /** Stops using `route` if it is still the current one (its owner is gone): mutations wait for the next. */
  leave(route: Route): void;
  /** Replaces the replica (on connect, or when too far behind); `at`: the id of change `version`, if known. */
  snapshot(version: number, state: Doc, at?: [string, number] | null): void;
  /** The owner's answer to a sync is complete: the replica is current as of `version`. */
  caughtUp(version: number): void;
  /**
   * Applies a committed change; returns false when it does not follow the replica's version. `result`, when
   * given, is the document after the change, already computed (the owner's own replica): it is taken as is.
   */
  change(version: number, m: Json, id: [string, number] | null, result?: Doc): boolean;
  /** The owner's own view is authoritative: adopt it (on becoming owner); `at`: the id of change `version`. */
  adopt(version: number, state: Doc, at?: [string, number] | null): void;
  /** Rejects everything pending (the instance closed). */
  close(): void;
}

/** The internal side of `state` (see Replica). */
// Assigned by SharedState's static block, the one place with access to its private fields.
export let replicaOf: <S, A extends ActionLike>(state: SharedState<S, A>) => Replica;

/**
 * `State` names the app's type for the document (`join<State>()`); it changes no behaviour: the document is
 * JSON, validated as such, whatever the type says.
 */
export class SharedState<State = Json, Actions extends ActionLike = Action> {
  readonly instanceId: string;
  /** The replica as held (wide-object.ts), deeply frozen. */
  #state: Doc = {};
  #version = 0;
  #synced = false;
  /** The id of the change that produced `version`; undefined when not known (after a snapshot). */
  #lastId: [string, number] | null | undefined;
  #seq = 0;
  readonly #pending = new Map<number, Pending>();
  /**
   * Mutations acknowledged before their flush by the owner of the current route, in the order of their
   * acks (which is their versions' order, but for repeats re-acknowledged after a replay: a later entry
   * then may wait for an earlier one's confirmation, never the other way round). From #unconfirmedHead on.
   */
  #unconfirmed: Pending[] = [];
  #unconfirmedHead = 0;
  /** The newest version the current route's owner has sent as a committed change. */
  #committedSeen = 0;
  readonly #maxPending: number;
  readonly #listeners = new Set<(c: Change, state: Json) => void>();
  readonly #whenSynced = new Waiters<void>();
  #route: Route | undefined;

  #refusal: LeaseholdError | undefined;
  #replica: Replica | undefined;
  constructor(instanceId: string, options: { maxPendingMutations?: number } = {}) {
    this.instanceId = instanceId;
    this.#maxPending = options.maxPendingMutations ?? 10_000;
  }

  /** The whole document: plain JSON, deeply frozen (see the header for what it costs). */
  get(): State {
    return view(this.#state) as State;
  }
  /**
   * The value at `path` (dot-separated, as for `set`), or undefined when there is none: plain JSON, deeply
   * frozen, in O(depth × log width) plus the cost of its view (see the header). Throws EPROTOCOL for a
   * path that is not valid.
   */
  at<P extends Path<State>>(path: P): ValueAt<State, P> | undefined {
    const node = getAt(this.#state, path);
    return (node === undefined ? undefined : view(node)) as ValueAt<State, P> | undefined;
  }
  get version(): number {
    return this.#version;
  }
  get synced(): boolean {
    return this.#synced;
  }
  /** Mutations not yet known to be committed (acknowledged `durable: false` ones included). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Calls `listener` after every change to the replica, with the change and the whole document (plain,
   * frozen: its view is built for the call, O(width) for each wide object that changed; see the header).
   * A listener declared with the change alone, `(change) => …`, is not given the document, so that it
   * costs nothing to build: read what it needs with `at(path)`.
   */
  subscribe(listener: (change: Change, state: State) => void): () => void {
    const l = listener as (change: Change, state: Json) => void;
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  whenSynced(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#synced ? Promise.resolve() : this.#whenSynced.wait(options.signal);
  }

  // Paths and values are checked by TypeScript for a typed State (paths.ts), and by the owner at run time.
  set<P extends Path<State>>(path: P, value: SetValue<State, P>, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'set', path, value: value as Json }, options);
  }
  delete(path: Path<State>, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'delete', path }, options);
  }
  increment(path: PathTo<State, number>, by = 1, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'increment', path, by }, options);
  }
  push<P extends PathTo<State, readonly unknown[]>>(path: P, value: ElementAt<State, P>, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'push', path, value: value as Json }, options);
  }
  removeAt(path: PathTo<State, readonly unknown[]>, index: number, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'remove-at', path, index }, options);
  }

  /** Several mutations, applied atomically and in order by the owner (all or nothing). */
  batch(ops: Mutation[], options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'batch', ops }, options);
  }
  /**
   * Runs the reducer registered for `action.type` on the owner (`join({ reducers })`) and commits what it
   * changed; resolves with the committed version, or rejects with EREDUCER (missing, threw, bad result).
   */
  dispatch(action: Actions, options?: MutateOptions): Promise<number> {
    // The payload's type is the app's promise; mutate() checks that it is JSON before it leaves.
    const payload = action.payload as Json | undefined;
    return this.mutate(payload === undefined ? { op: 'dispatch', type: action.type } : { op: 'dispatch', type: action.type, payload }, options);
  }

  /**
   * Sends a mutation to the owner; resolves with its version once the owner has applied and persisted it
   * (or only applied it, with `durable: false`).
   */
  mutate(m: Mutation, options: MutateOptions = {}): Promise<number> {
    const durable = options.durable ?? true;
    if (typeof durable !== 'boolean')
      return Promise.reject(new LeaseholdError('EINVALIDCONFIG', 'durable is a boolean', { field: 'durable' }));
    if (this.#refusal) return Promise.reject(this.#refusal);
    if (this.#pending.size >= this.#maxPending)
      return Promise.reject(
        new LeaseholdError(
          'EFULL',
          `${this.#pending.size} mutations are already waiting for an owner (maxPendingMutations); retry once connected`,
        ),
      );
    return new Promise((resolve, reject) => {
      const seq = ++this.#seq;
      this.#pending.set(seq, { seq, m, durable, resolve, reject, acked: 0 });
      this.#route?.send(seq, m, durable);
    });
  }

  // ---- driven by the instance (see Replica) -----------------------------------------------------

  static {
    replicaOf = (s) =>
      (s.#replica ??= {
        get version() {
          return s.#version;
        },
        get lastId() {
          return s.#lastId;
        },
        get state() {
          return s.#state;
        },
        setRoute: (route) => s.#setRoute(route),
        ack: (seq, version, from) => s.#ack(seq, version, from),
        nack: (seq, err) => s.#nack(seq, err),
        refuse: (err) => s.#refuse(err),
        leave: (route) => s.#leave(route),
        snapshot: (version, state, at) => s.#snapshot(version, state, at),
        caughtUp: (version) => s.#caughtUp(version),
        change: (version, m, id, result) => s.#change(version, m, id, result),
        adopt: (version, state, at) => s.#adopt(version, state, at),
        close: () => s.#close(),
      });
  }

  #setRoute(route: Route | undefined): void {
    this.#route = route;
    // Acknowledgements of the old route are confirmed only by changes of its owner: start afresh.
    this.#unconfirmed = [];
    this.#unconfirmedHead = 0;
    this.#committedSeen = 0;
    if (!route) this.#synced = false;
    else for (const p of [...this.#pending.values()].sort((a, b) => a.seq - b.seq)) route.send(p.seq, p.m, p.durable);
  }

  #ack(seq: number, version: number, from?: Route): void {
    const p = this.#pending.get(seq);
    if (!p) return;
    if (p.durable) {
      this.#pending.delete(seq);
      return p.resolve(version);
    }
    if (p.acked === 0) p.resolve(version);
    if (from !== undefined && from !== this.#route) return;
    // A repeat is acknowledged once committed, often after the changes that showed it.
    if (version <= this.#committedSeen) {
      this.#pending.delete(seq);
      return;
    }
    p.acked = version;
    this.#unconfirmed.push(p);
  }

  #nack(seq: number, err: LeaseholdError): void {
    const p = this.#pending.get(seq);
    if (!p) return;
    this.#pending.delete(seq);
    p.reject(err); // a no-op for one already acknowledged (replayed to an owner that refused it)
  }

  #refuse(err: LeaseholdError | undefined): void {
    this.#refusal = err;
  }

  #leave(route: Route): void {
    if (this.#route === route) this.#setRoute(undefined);
  }

  /** The current route's owner committed every version up to `version`. */
  #confirm(version: number): void {
    if (version > this.#committedSeen) this.#committedSeen = version;
    const q = this.#unconfirmed;
    let i = this.#unconfirmedHead;
    if (i === q.length) return;
    for (; i < q.length && q[i]!.acked <= version; i++) {
      const p = q[i]!;
      if (this.#pending.get(p.seq) === p) this.#pending.delete(p.seq);
    }
    if (i === q.length) {
      q.length = 0;
      i = 0;
    } else if (i >= 1024 && i * 2 >= q.length) {
      q.splice(0, i);
      i = 0;
    }
    this.#unconfirmedHead = i;
  }

  #snapshot(version: number, state: Doc, at?: [string, number] | null): void {
    // Also at the same version: a replica resynced because its history differed from the owner's.
    const changed = version !== this.#version || state !== this.#state;
    this.#state = freezeDeep(state);
    this.#version = version;
    this.#lastId = at;
    if (changed) this.#tell({ version, mutation: null, id: null });
  }

  #tell(change: Change): void {
    if (this.#listeners.size === 0) return;
    let state: Json | undefined;
    for (const l of [...this.#listeners]) l(change, l.length === 1 ? (undefined as unknown as Json) : (state ??= view(this.#state)));
  }

  #caughtUp(version: number): void {
    if (version === this.#version) this.#markSynced();
  }

  #change(version: number, m: Json, id: [string, number] | null, result?: Doc): boolean {
    // Committed by the current owner (it sends changes after their flush, in version order).
    this.#confirm(version);
    if (version <= this.#version) return true; // already have it
    if (version !== this.#version + 1) return false;
    this.#state = result !== undefined ? result : applyFrozen(this.#state, m as Mutation);
    this.#version = version;
    this.#lastId = id;
    this.#tell({ version, mutation: m, id });
    return true;
  }

  #markSynced(): void {
    this.#synced = true;
    this.#whenSynced.resolveAll();
  }

  #adopt(version: number, state: Doc, at?: [string, number] | null): void {
    this.#snapshot(version, state, at);
    this.#markSynced();
  }

  #close(): void {
    const err = new LeaseholdError('ECLOSED', 'the instance closed before the owner acknowledged this mutation; its outcome is unknown');
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#whenSynced.rejectAll(err);
  }
}
