/**
 * The lease contract, independent of where leases are kept.
 *
 * Guarantees (both stores):
 *  1. At most one instance holds a key at any instant, where "holds" means its `check()` passes: a holder
 *     fences itself, ending its lease `safetyMarginMs` before anyone else could take it over.
 *  2. Every acquisition gets an epoch greater than every epoch before it for that key (a fencing token):
 *     pass it with every guarded write and refuse writes from lower epochs.
 *  3. `release()` frees the key at once; a holder whose process is gone (same host) is replaced at once;
 *     a holder that is alive but no longer renews is replaced after its ttl.
 *  4. Losing a lease is reported through `lease.lost` (an AbortSignal whose reason is an ELOST error with
 *     `reason`), never as an uncaught exception.
 * Not guaranteed: that a holder notices its loss before its next `check()`; that `lost` fires before the
 * successor acquires (a stopped process learns only when it runs again). This is why writes are fenced.
 */
import type { LeaseKey } from './key.js';
import type { LeaseRecord, Meta } from './record.js';

export interface AcquireOptions {
  /** How long the lease lives without renewal. @default 5000 */
  ttlMs?: number;
  /** How often the holder renews. @default ttlMs / 3 */
  renewIntervalMs?: number;
  /** A wall-clock jump of more than this ends the lease ('clock-jump'). @default max(1000, ttlMs / 2) */
  clockJumpMs?: number;
  /** Application data advertised in the record (the instance puts its endpoint here). */
  meta?: Meta;
  /** Who is acquiring. @default a random id */
  instanceId?: string;
  signal?: AbortSignal;
}

export interface Lease {
  readonly key: LeaseKey;
  readonly instanceId: string;
  readonly epoch: number;
  /** The record as last written by this holder. */
  readonly record: LeaseRecord;
  /** Aborted when the lease ends for any reason; `lost.reason` is an ELOST LeaseholdError with `reason`. */
  readonly lost: AbortSignal;
  /** True until the lease ends or its validity runs out. */
  readonly held: boolean;
  /** Throws ELOST unless the lease is held at this instant: call it before every guarded action. */
  check(): void;
  /** Replaces the advertised meta (e.g. a new endpoint). */
  updateMeta(meta: Meta): Promise<void>;
  /** Gives the lease up so that a successor can take it at once. Idempotent. */
  release(): Promise<void>;
}

export interface FencingToken {
  readonly key: LeaseKey;
  readonly instanceId: string;
  /** Throws ENOTHELD (never held here) or ELOST unless `instanceId` holds `key` through this store now. */
  check(): void;
  /** Like check(), and reads the stored record back to confirm it names this holder and epoch. */
  verify(): Promise<void>;
}

export type LeaseState =
  | { state: 'free'; record?: LeaseRecord; reason: 'none' | 'released' | 'expired' | 'holder-gone' }
  | { state: 'held'; record: LeaseRecord }
  | { state: 'unknown'; reason: 'corrupt'; path: string; message: string }
  /**
   * A newer epoch was claimed than the record names (a stale writer overwrote it, or its holder is
   * starting); `record` is the record as it stands, if there is one.
   */
  | { state: 'unknown'; reason: 'claimed'; epoch: number; instanceId?: string; record?: LeaseRecord; message: string };

export interface WaitOptions {
  signal?: AbortSignal;
  /** Re-read the record this often (changes on disk also wake the wait at once). @default the store's */
  pollIntervalMs?: number;
}

export interface LeaseStore {
  /** Acquires `key` or rejects with ECONFLICT carrying the current holder's record as `err.holder`. */
  acquire(key: LeaseKey | string, options?: AcquireOptions): Promise<Lease>;
  /** The current holder's record, or undefined when the key is free. */
  inspect(key: LeaseKey | string): Promise<LeaseRecord | undefined>;
  /** Like inspect, with why the key is free or unknown. */
  describe(key: LeaseKey | string): Promise<LeaseState>;
  /** Resolves when the key is free, or held by an instance other than the one holding it at the call. */
  waitUntilReleased(key: LeaseKey | string, options?: WaitOptions): Promise<void>;
  /**
   * Calls `onChange` when the record of `key` may have changed (possibly spuriously; on disk this is a
   * file-system notification, so pair it with an occasional re-read). Returns a function that stops it.
   */
  watch(key: LeaseKey | string, onChange: () => void): () => void;
  /** A token for guarded writes by `instanceId` on `key`. */
  token(key: LeaseKey | string, instanceId: string): FencingToken;
  /** Suspends expiry of `key` while `entity` pins it (releases still free it). */
  pin(key: LeaseKey | string, entity: string): Promise<void>;
  unpin(key: LeaseKey | string, entity: string): Promise<void>;
  /** Every pinned key with the entities pinning it. */
  pinned(): Promise<Record<string, string[]>>;
  /** Releases every lease this store holds and stops its timers. Idempotent. */
  close(): Promise<void>;
}
