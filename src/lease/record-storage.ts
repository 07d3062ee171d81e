/**
 * RecordStorage: what the lease algorithm (record-store.ts) needs of a place to keep records, written
 * once for both stores (file-store.ts on disk, memory-store.ts in memory).
 *
 * A storage must guarantee:
 *  - `claimEpoch` succeeds for exactly one caller per epoch, ever (as long as the claim is kept), whether
 *    or not the mutex still excludes others: the claims, not the mutex, keep one holder per epoch;
 *  - `read` reads the record before the newest claim, so a claim made after the record was read is seen
 *    too (never a newer record with an older claim);
 *  - `withMutex` runs one transaction at a time per key while the mutex holds, and `compromised()` tells
 *    a transaction that it may have lost the mutex (then nothing it decided may count);
 *  - `write` replaces the record atomically for readers (they see the old one or the new one, or a read
 *    that fails to parse and counts as corrupt).
 * Not required: that the mutex survives a holder stopped past its staleness; change notifications
 * (`watch` may call spuriously or never: waiters also poll).
 */
import type { LeaseholdError } from '../errors.js';
import type { HolderProcess } from './assess.js';
import type { LeaseKey } from './key.js';
import type { EpochClaim, LeaseRecord, NewestClaim } from './record.js';

export interface ReadResult {
  record?: LeaseRecord;
  /** Present when the stored record cannot be parsed. */
  corrupt?: { text: string; error: LeaseholdError };
  /** The newest claimed epoch, read after the record. */
  newest: NewestClaim;
}

export interface Transaction {
  read(): Promise<ReadResult>;
  /** Writes the record atomically; `durable` also flushes it to disk first (acquisitions). */
  write(record: LeaseRecord, durable?: boolean): Promise<void>;
  /** Exclusively claims `epoch`; false when it was already claimed. */
  claimEpoch(epoch: number, claim: EpochClaim): Promise<boolean>;
  /** Atomically replaces the claim of `epoch` (held by the caller), or recreates it if it was deleted. */
  rewriteClaim(epoch: number, claim: EpochClaim): Promise<void>;
  /** True when the mutex was taken from this transaction (it stalled past the lock's staleness). */
  compromised(): boolean;
}

export interface RecordStorage {
  read(key: LeaseKey): Promise<ReadResult>;
  withMutex<T>(key: LeaseKey, fn: (tx: Transaction) => Promise<T>): Promise<T>;
  keys(): Promise<LeaseKey[]>;
  isProcessGone(holder: HolderProcess): boolean;
  /** Calls `onChange` (maybe spuriously) when the key's record may have changed; returns a stop function. */
  watch(key: LeaseKey, onChange: () => void): () => void;
  close(): Promise<void>;
}
