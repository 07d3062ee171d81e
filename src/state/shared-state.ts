/**
 * The shared state as every instance sees it: `get()`, `subscribe()`, `whenSynced()`, and mutations that
 * resolve with the committed version once the owner has applied and persisted them.
 *
 * Exactly once: each mutation carries (instanceId, seq). Until acknowledged it stays pending here and is
 * sent again to every new owner (the owner's dedup table, recovered with the state, drops repeats). A
 * mutation sent as the owner died has an unknown outcome until the next owner answers; it is never lost
 * and never applied twice. While no owner is reachable, at most `maxPendingMutations` wait; one more is
 * refused with EFULL.
 */
import { LeaseholdError } from '../errors.js';
import { Waiters } from '../events.js';
import { apply, type Json, type Mutation } from './document.js';

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
}

/** Where mutations go right now: the local owner, a link to the owner, or nowhere (queued). */
export interface Route {
  send(seq: number, m: Mutation, durable: boolean): void;
}

export class SharedState {
  readonly instanceId: string;
  #state: Json = {};
  #version = 0;
  #synced = false;
  /** The id of the change that produced `version`; undefined when not known (after a snapshot). */
  #lastId: [string, number] | null | undefined;
  #seq = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #maxPending: number;
  readonly #listeners = new Set<(c: Change, state: Json) => void>();
  readonly #whenSynced = new Waiters<void>();
  #route: Route | undefined;

  constructor(instanceId: string, options: { maxPendingMutations?: number } = {}) {
    this.instanceId = instanceId;
    this.#maxPending = options.maxPendingMutations ?? 10_000;
  }

  get(): Json {
    return this.#state;
  }
  get version(): number {
    return this.#version;
  }
  get synced(): boolean {
    return this.#synced;
  }
  /** The id of the change that produced the current version, when known (a resync checks it). */
  get lastId(): [string, number] | null | undefined {
    return this.#lastId;
  }
  get pendingCount(): number {
    return this.#pending.size;
  }

  subscribe(listener: (change: Change, state: Json) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  whenSynced(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#synced ? Promise.resolve() : this.#whenSynced.wait(options.signal);
  }

  set(path: string, value: Json, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'set', path, value }, options);
  }
  delete(path: string, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'delete', path }, options);
  }
  increment(path: string, by = 1, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'increment', path, by }, options);
  }
  push(path: string, value: Json, options?: MutateOptions): Promise<number> {
    return this.mutate({ op: 'push', path, value }, options);
  }
  removeAt(path: string, index: number, options?: MutateOptions): Promise<number> {
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
  dispatch(action: { type: string; payload?: Json }, options?: MutateOptions): Promise<number> {
    return this.mutate(
      action.payload === undefined ? { op: 'dispatch', type: action.type } : { op: 'dispatch', type: action.type, payload: action.payload },
      options,
    );
  }

  /**
   * Sends a mutation to the owner; resolves with its version once the owner has applied and persisted it
   * (or only applied it, with `durable: false`).
   */
  mutate(m: Mutation, options: MutateOptions = {}): Promise<number> {
    const durable = options.durable ?? true;
    if (typeof durable !== 'boolean')
      return Promise.reject(new LeaseholdError('EINVALIDCONFIG', 'durable is a boolean', { field: 'durable' }));
    if (this.#pending.size >= this.#maxPending)
      return Promise.reject(
        new LeaseholdError(
          'EFULL',
          `${this.#pending.size} mutations are already waiting for an owner (maxPendingMutations); retry once connected`,
        ),
      );
    return new Promise((resolve, reject) => {
      const seq = ++this.#seq;
      this.#pending.set(seq, { seq, m, durable, resolve, reject });
      this.#route?.send(seq, m, durable);
    });
  }

  // ---- driven by the coordinator ---------------------------------------------------------------

  /** A new way to the owner: everything not yet acknowledged is sent again, in order. */
  setRoute(route: Route | undefined): void {
    this.#route = route;
    if (!route) this.#synced = false;
    else for (const p of [...this.#pending.values()].sort((a, b) => a.seq - b.seq)) route.send(p.seq, p.m, p.durable);
  }

  ack(seq: number, version: number): void {
    const p = this.#pending.get(seq);
    if (!p) return;
    this.#pending.delete(seq);
    p.resolve(version);
  }

  nack(seq: number, err: LeaseholdError): void {
    const p = this.#pending.get(seq);
    if (!p) return;
    this.#pending.delete(seq);
    p.reject(err);
  }

  /** Replaces the replica (on connect, or when too far behind). */
  snapshot(version: number, state: Json): void {
    // Also at the same version: a replica resynced because its history differed from the owner's.
    const changed = version !== this.#version || state !== this.#state;
    this.#state = state;
    this.#version = version;
    this.#lastId = undefined;
    if (changed) for (const l of [...this.#listeners]) l({ version, mutation: null, id: null }, this.#state);
  }

  /** The owner's answer to a sync is complete: the replica is current as of `version`. */
  caughtUp(version: number): void {
    if (version === this.#version) this.#markSynced();
  }

  /**
   * Applies a committed change; returns false when it does not follow the replica's version. `result`, when
   * given, is the document after the change, already computed (the owner's own replica): it is taken as is.
   */
  change(version: number, m: Json, id: [string, number] | null, result?: Json): boolean {
    if (version <= this.#version) return true; // already have it
    if (version !== this.#version + 1) return false;
    this.#state = result !== undefined ? result : apply(this.#state, m as Mutation);
    this.#version = version;
    this.#lastId = id;
    if (this.#listeners.size > 0) for (const l of [...this.#listeners]) l({ version, mutation: m, id }, this.#state);
    return true;
  }

  #markSynced(): void {
    this.#synced = true;
    this.#whenSynced.resolveAll();
  }

  /** The owner's own view is authoritative: adopt it (on becoming owner). */
  adopt(version: number, state: Json): void {
    this.snapshot(version, state);
    this.#markSynced();
  }

  /** Rejects everything pending (the instance closed). */
  close(): void {
    const err = new LeaseholdError('ECLOSED', 'the instance closed before the owner acknowledged this mutation; its outcome is unknown');
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#whenSynced.rejectAll(err);
  }
}
