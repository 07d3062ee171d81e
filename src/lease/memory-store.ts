/**
 * MemoryLeaseStore: the lease contract in memory, on an injectable clock, for tests (yours and ours).
 *
 * Share one instance between the "processes" of a test. Time moves only with the clock, so expiry and
 * renewal can be tested in microseconds with a FakeClock. `simulateCrash(instanceId)` makes an instance
 * behave like a killed process: its leases stop renewing without a word, and others may take over at once
 * (as the file store does when it sees that the holder's pid is gone).
 */
import { systemClock, type Clock } from '../clock.js';
import { LeaseholdError } from '../errors.js';
import type { LeaseKey } from './key.js';
import { LeaseKey as Key } from './key.js';
import type { EpochClaim, LeaseRecord, NewestClaim } from './record.js';
import type { HolderProcess } from './assess.js';
import { RecordLeaseStore } from './record-store.js';
import type { ReadResult, RecordStorage, Transaction } from './record-storage.js';

interface Slot {
  record?: LeaseRecord;
  corrupt?: string;
  epochs: Map<number, EpochClaim>;
  mutex: Promise<void>;
  watchers: Set<() => void>;
}

class MemoryStorage implements RecordStorage {
  readonly slots = new Map<string, Slot>();
  readonly crashed = new Set<string>();

  slot(key: LeaseKey): Slot {
    let s = this.slots.get(String(key));
    if (!s) this.slots.set(String(key), (s = { epochs: new Map(), mutex: Promise.resolve(), watchers: new Set() }));
    return s;
  }

  async read(key: LeaseKey): Promise<ReadResult> {
    const s = this.slot(key);
    const epoch = Math.max(0, ...s.epochs.keys());
    const newest: NewestClaim = epoch > 0 ? { epoch, claim: structuredClone(s.epochs.get(epoch)) } : { epoch };
    if (s.corrupt !== undefined)
      return {
        corrupt: {
          text: s.corrupt,
          error: new LeaseholdError('ECORRUPT', `lease record of ${key} is corrupt (memory)`, { path: `memory:${key}` }),
        },
        newest,
      };
    return s.record ? { record: structuredClone(s.record), newest } : { newest };
  }

  withMutex<T>(key: LeaseKey, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const s = this.slot(key);
    const tx: Transaction = {
      read: () => this.read(key),
      write: async (record) => {
        s.record = structuredClone(record);
        s.corrupt = undefined;
        for (const w of s.watchers) w();
      },
      claimEpoch: async (epoch, claim) => {
        if (s.epochs.has(epoch)) return false;
        s.epochs.set(epoch, structuredClone(claim));
        return true;
      },
      rewriteClaim: async (epoch, claim) => {
        s.epochs.set(epoch, structuredClone(claim));
      },
      compromised: () => false,
    };
    const run = s.mutex.then(() => fn(tx));
    s.mutex = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async keys(): Promise<LeaseKey[]> {
    return [...this.slots.keys()].map((k) => Key.parse(k));
  }

  isProcessGone(holder: HolderProcess): boolean {
    return this.crashed.has(holder.instanceId);
  }

  watch(key: LeaseKey, onChange: () => void): () => void {
    const s = this.slot(key);
    s.watchers.add(onChange);
    return () => s.watchers.delete(onChange);
  }

  async close(): Promise<void> {}
}

export interface MemoryLeaseStoreOptions {
  clock?: Clock;
  /**
   * Share the leases of another MemoryLeaseStore, as separate processes share a data root: each store has
   * its own clock, observations and held leases.
   */
  sharedWith?: MemoryLeaseStore;
  /** @default 50 */
  pollIntervalMs?: number;
}

export class MemoryLeaseStore extends RecordLeaseStore {
  readonly #storage: MemoryStorage;

  constructor(options: MemoryLeaseStoreOptions = {}) {
    const storage = options.sharedWith ? options.sharedWith.#storage : new MemoryStorage();
    super(storage, { clock: options.clock ?? systemClock, pollIntervalMs: options.pollIntervalMs ?? 50 });
    this.#storage = storage;
  }

  /**
   * Makes `instanceId` behave as a killed process: its records stay, but it is treated as gone. Its
   * HeldLease objects are left alone: call this on the store of the "crashed" instance only in tests that
   * then stop using that instance.
   */
  simulateCrash(instanceId: string): void {
    this.#storage.crashed.add(instanceId);
  }

  /** Replaces the stored record of `key` with unparseable text (for corruption tests). */
  corruptRecord(key: LeaseKey | string): void {
    const k = Key.from(key);
    const s = this.#storage.slot(k);
    s.corrupt = '{"format":1,"key":';
    s.record = undefined;
  }

  /** Removes the record of `key` (epochs stay claimed, as they do on disk). */
  deleteRecord(key: LeaseKey | string): void {
    this.#storage.slot(Key.from(key)).record = undefined;
  }

  /**
   * Overwrites the stored record without the mutex or any check, as a writer that stalled inside a
   * transaction and resumed after its mutex was broken would (for fencing tests).
   */
  writeRecordUnsafely(record: LeaseRecord): void {
    const s = this.#storage.slot(Key.parse(record.key));
    s.record = structuredClone(record);
    s.corrupt = undefined;
    for (const w of s.watchers) w();
  }
}
