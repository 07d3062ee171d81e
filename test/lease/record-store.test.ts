/**
 * The lease algorithm on a storage whose mutex does not exclude anyone: what happens when proper-lockfile's
 * lock is broken under a stalled process (its issue #121). The epoch claims alone must keep one winner.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { RecordLeaseStore } from '../../src/lease/record-store.js';
import type { ReadResult, RecordStorage, Transaction } from '../../src/lease/record-storage.js';
import type { EpochClaim, LeaseRecord } from '../../src/lease/record.js';
import { FakeClock } from '../../src/clock.js';
import { LeaseholdError } from '../../src/errors.js';

/** Shared state with every operation yielding, and a "mutex" that lets everyone in at once. */
class UnlockedStorage implements RecordStorage {
  record: LeaseRecord | undefined;
  readonly epochs = new Map<number, EpochClaim>();
  async read(): Promise<ReadResult> {
    await tick();
    const record = this.record && structuredClone(this.record);
    await tick();
    const epoch = Math.max(0, ...this.epochs.keys());
    return { record, newest: epoch ? { epoch, claim: this.epochs.get(epoch) } : { epoch } };
  }
  withMutex<T>(_key: unknown, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return fn({
      read: () => this.read(),
      write: async (r) => {
        await tick();
        this.record = structuredClone(r);
      },
      claimEpoch: async (epoch, claim) => {
        await tick();
        if (this.epochs.has(epoch)) return false;
        this.epochs.set(epoch, claim);
        return true;
      },
      rewriteClaim: async (epoch, claim) => {
        await tick();
        this.epochs.set(epoch, claim);
      },
      compromised: () => false,
    });
  }
  async keys() {
    return [];
  }
  isProcessGone() {
    return false;
  }
  watch() {
    return () => undefined;
  }
  async close() {}
}

describe('RecordLeaseStore without mutual exclusion', () => {
  it('lets exactly one of many simultaneous contenders win, every round', async () => {
    const storage = new UnlockedStorage();
    const clock = new FakeClock();
    for (let round = 1; round <= 20; round++) {
      const stores = Array.from({ length: 8 }, () => new RecordLeaseStore(storage, { clock }));
      const results = await Promise.allSettled(
        stores.map((s, i) => s.acquire('/app/race/owner', { ttlMs: 1000, instanceId: `r${round}-${i}` })),
      );
      const winners = results.filter((r) => r.status === 'fulfilled');
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as LeaseholdError).code, 'ECONFLICT', String(r.reason));
      const lease = (winners[0] as PromiseFulfilledResult<Awaited<ReturnType<RecordLeaseStore['acquire']>>>).value;
      assert.equal(lease.epoch, round);
      await lease.release();
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
