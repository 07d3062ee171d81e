/**
 * The lease contract, as one suite run against every store (see memory-store.test.ts, file-store.test.ts).
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { LeaseStore, Lease } from '../../src/lease/store.js';
import type { LeaseRecord } from '../../src/lease/record.js';
import { LeaseholdError } from '../../src/errors.js';
import type { HeldLease } from '../../src/lease/held-lease.js';
import type { Clock, Timer } from '../../src/clock.js';
import { observe } from '../../src/lease/observe.js';

export interface ContractEnv {
  /** A store as a separate process would have it (same backing, its own observations). */
  store(): LeaseStore;
  /** The clock the stores run on. */
  clock: Clock;
  /** Lets `ms` of time pass with timers running. */
  advance(ms: number): Promise<void>;
  /** Stops the timers of `store` (as SIGSTOP would): its leases stop renewing. */
  hang(store: LeaseStore): void;
  /** Lets a hung store run again; its overdue timers fire. */
  resume(store: LeaseStore): void;
  /** Moves the wall clock only. */
  jumpWall(ms: number): void;
  /** Makes the lease's holder look like a killed process. */
  crash(lease: Lease): Promise<void>;
  deleteRecord(key: string): Promise<void>;
  /** Overwrites the record without the store's mutex or checks (a stalled writer resuming late). */
  writeRecordUnsafely(record: LeaseRecord): Promise<void>;
  corruptRecord(key: string): Promise<void>;
  dispose(): Promise<void>;
  /** The ttl the suite acquires with (a store may have a minimum). @default TTL */
  ttl?: number;
  /** How much later than its ttl the store may free an expired lease (etcd expires leases in rounds). @default 20 */
  expirySlackMs?: number;
  /** Epochs rise by exactly one at every acquisition (the file and memory stores); else they only rise. @default true */
  epochsByOne?: boolean;
  /**
   * A deleted record leaves its epoch claimed, blocking others for one ttl (the file and memory stores).
   * Else a deleted key is free at once and its holder superseded at its next renewal. @default true
   */
  claimsSurviveDeletion?: boolean;
  /**
   * A garbage record with no holder blocks the key for a ttl (the file and memory stores: the record is the
   * lock). Else the key is free at once (the etcd store: its lock is another key). @default true
   */
  corruptRecordBlocks?: boolean;
}

export const TTL = 400;
const KEY = '/app/contract/owner';

function code(err: unknown): string | undefined {
  return err instanceof LeaseholdError ? err.code : undefined;
}

export function leaseContract(name: string, make: () => Promise<ContractEnv>): void {
  describe(`LeaseStore contract: ${name}`, () => {
    let env: ContractEnv;
    let T = TTL;
    let slack = 20;
    const setup = async () => {
      env = await make();
      T = env.ttl ?? TTL;
      slack = env.expirySlackMs ?? 20;
      return env;
    };
    /** Asserts that `epoch` is the next one after `before` (0: none before). */
    const nextEpoch = (epoch: number, before: number) =>
      env.epochsByOne === false ? assert.ok(epoch > before, `epoch ${epoch} after ${before}`) : assert.equal(epoch, before + 1);
    afterEach(async () => env?.dispose());

    it('acquires a free key at epoch 1 and advertises the record', async () => {
      await setup();
      const a = env.store();
      const lease = await a.acquire(KEY, { ttlMs: T, instanceId: 'A', meta: { endpoint: 'x' } });
      nextEpoch(lease.epoch, 0);
      assert.equal(lease.instanceId, 'A');
      assert.equal(lease.held, true);
      const rec = await env.store().inspect(KEY);
      assert.equal(rec?.instanceId, 'A');
      assert.equal(rec?.epoch, lease.epoch);
      assert.equal(rec?.pid, process.pid);
      assert.equal(rec?.ttlMs, T);
      assert.equal(rec?.renewIntervalMs, Math.floor(T / 3));
      assert.deepEqual(rec?.meta, { endpoint: 'x' });
      await lease.release();
    });

    it('refuses a held key with ECONFLICT carrying the holder', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const err = await env
        .store()
        .acquire(KEY, { ttlMs: T, instanceId: 'B' })
        .then(
          () => undefined,
          (e) => e,
        );
      assert.equal(code(err), 'ECONFLICT');
      assert.equal((err as LeaseholdError).holder && ((err as LeaseholdError).holder as { instanceId: string }).instanceId, 'A');
      await lease.release();
    });

    it('keeps a renewing lease past many ttls', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const other = env.store();
      for (let i = 0; i < 5; i++) {
        await env.advance(T / 2);
        await assert.rejects(other.acquire(KEY, { ttlMs: T, instanceId: 'B' }), (e) => code(e) === 'ECONFLICT');
      }
      assert.equal(lease.held, true);
      assert.ok(lease.record.renewals >= 3, `renewed ${lease.record.renewals} times`);
      await lease.release();
    });

    it('release frees the key at once, is idempotent, and aborts lost with reason released', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      await lease.release();
      await lease.release();
      assert.equal(lease.lost.aborted, true);
      assert.equal((lease.lost.reason as LeaseholdError).reason, 'released');
      assert.throws(
        () => lease.check(),
        (e) => code(e) === 'ELOST',
      );
      const next = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'B' });
      nextEpoch(next.epoch, lease.epoch);
      await next.release();
    });

    it('takes over from a holder whose process is gone at once', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      await env.crash(lease);
      const next = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'B' });
      nextEpoch(next.epoch, lease.epoch);
      await next.release();
    });

    it('takes over from a hung holder only after its ttl, and the hung holder fences itself', async () => {
      await setup();
      const a = env.store();
      const lease = await a.acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const b = env.store();
      await assert.rejects(b.acquire(KEY, { ttlMs: T, instanceId: 'B' }), (e) => code(e) === 'ECONFLICT');
      // A hangs: no renewals; B keeps looking but may not take over before the ttl.
      env.hang(a);
      await env.advance(T / 2);
      await assert.rejects(b.acquire(KEY, { ttlMs: T, instanceId: 'B' }), (e) => code(e) === 'ECONFLICT');
      await env.advance(T / 2 + slack);
      // A's validity ended before anyone could take over (checked without any of A's timers running).
      assert.throws(
        () => lease.check(),
        (e) => code(e) === 'ELOST',
      );
      const next = await b.acquire(KEY, { ttlMs: T, instanceId: 'B' });
      nextEpoch(next.epoch, lease.epoch);
      env.resume(a);
      await env.advance(T);
      assert.equal(lease.lost.aborted, true);
      assert.ok(['expired', 'superseded'].includes((lease.lost.reason as LeaseholdError).reason!));
      assert.equal(next.held, true, 'the successor is not disturbed by the deposed holder waking up');
      const rec = await b.inspect(KEY);
      assert.equal(rec?.instanceId, 'B');
      await next.release();
    });

    it('treats a wall-clock jump as lease possibly lost', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      env.jumpWall(60_000);
      assert.throws(
        () => lease.check(),
        (e) => code(e) === 'ELOST' && (e as LeaseholdError).reason === 'clock-jump',
      );
      assert.equal(lease.lost.aborted, true);
      await env.advance(50);
      // It released what it could: a successor does not wait for the ttl.
      const next = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'B' });
      nextEpoch(next.epoch, lease.epoch);
      await next.release();
    });

    it('waitUntilReleased resolves on release and on takeover, and honours its signal', async () => {
      await setup();
      const a = env.store();
      const lease = await a.acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const b = env.store();
      let resolved = false;
      const waiting = b.waitUntilReleased(KEY).then(() => (resolved = true));
      await env.advance(60);
      assert.equal(resolved, false);
      await lease.release();
      await env.advance(60);
      await waiting;
      assert.equal(resolved, true);

      const l2 = await b.acquire(KEY, { ttlMs: T, instanceId: 'B' });
      const ac = new AbortController();
      const aborted = a.waitUntilReleased(KEY, { signal: ac.signal });
      ac.abort(new Error('stop'));
      await assert.rejects(aborted, /stop/);
      await l2.release();
    });

    it('observe() follows the key through release and takeover, and leaves no watcher or timer behind', async () => {
      await setup();
      const a = env.store();
      const b = env.store();
      // The store's watcher and the clock's timers, counted from outside.
      let watchers = 0;
      let timers = 0;
      const counted = {
        describe: (k: string) => b.describe(k),
        watch: (k: string, fn: () => void) => {
          watchers++;
          const stop = b.watch(k, fn);
          return () => {
            watchers--;
            stop();
          };
        },
      };
      const clock: Clock = {
        now: () => env.clock.now(),
        wallNow: () => env.clock.wallNow(),
        setTimeout: (fn, ms): Timer => {
          timers++;
          let live = true;
          const t = env.clock.setTimeout(() => {
            if (live) timers--;
            live = false;
            fn();
          }, ms);
          return {
            cancel: () => {
              if (live) timers--;
              live = false;
              t.cancel();
            },
          };
        },
      };
      const lease = await a.acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const released = observe(counted, KEY, (s) => (s.state === 'free' ? s.reason : undefined), { clock, pollIntervalMs: 10 });
      await env.advance(30);
      assert.equal(watchers, 1);
      await lease.release();
      await env.advance(30);
      assert.equal(await released, 'released');
      assert.equal(watchers, 0);
      assert.equal(timers, 0);

      const taken = observe(counted, KEY, (s) => (s.state === 'held' ? s.record : undefined), { clock, pollIntervalMs: 10 });
      const l2 = await a.acquire(KEY, { ttlMs: T, instanceId: 'B' });
      await env.advance(30);
      assert.equal((await taken).instanceId, 'B');
      assert.equal(watchers + timers, 0);

      const late = observe(counted, KEY, (s) => (s.state === 'free' ? true : undefined), {
        clock,
        pollIntervalMs: 10,
        deadline: env.clock.now() + 25,
      });
      const timedOut = assert.rejects(late, (e) => code(e) === 'ETIMEOUT');
      await env.advance(40);
      await timedOut;
      assert.equal(watchers + timers, 0);
      await l2.release();
    });

    it('token().check() passes for the holder only and fails after loss', async () => {
      await setup();
      const s = env.store();
      const lease = await s.acquire(KEY, { ttlMs: T, instanceId: 'A' });
      s.token(KEY, 'A').check();
      await s.token(KEY, 'A').verify();
      assert.throws(
        () => s.token(KEY, 'B').check(),
        (e) => code(e) === 'ENOTHELD',
      );
      assert.throws(
        () => env.store().token(KEY, 'Z').check(),
        (e) => code(e) === 'ENOTHELD',
      );
      await lease.release();
      assert.throws(
        () => s.token(KEY, 'A').check(),
        (e) => code(e) === 'ENOTHELD' || code(e) === 'ELOST',
      );
    });

    it('pins suspend expiry until unpinned; release still frees a pinned key', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const s = env.store();
      await s.pin(KEY, 'upgrade');
      await s.pin(KEY, 'upgrade');
      assert.deepEqual(await s.pinned(), { [KEY]: ['upgrade'] });
      (lease as HeldLease).abandon('closed'); // A stops renewing
      await env.advance(T * 2);
      await assert.rejects(
        s.acquire(KEY, { ttlMs: T, instanceId: 'B' }),
        (e) => code(e) === 'ECONFLICT' && /pinned/.test((e as Error).message),
      );
      await s.unpin(KEY, 'upgrade');
      assert.deepEqual(await s.pinned(), {});
      await assert.rejects(s.acquire(KEY, { ttlMs: T, instanceId: 'B' }), (e) => code(e) === 'ECONFLICT');
      await env.advance(T + slack);
      const b = await s.acquire(KEY, { ttlMs: T, instanceId: 'B' });
      await s.pin(KEY, 'upgrade');
      await b.release();
      const c = await s.acquire(KEY, { ttlMs: T, instanceId: 'C' });
      nextEpoch(c.epoch, b.epoch);
      await c.release();
      await assert.rejects(s.pin('/app/contract/nobody', 'x'), (e) => code(e) === 'ENOTHELD');
    });

    it('never reuses an epoch when the record is deleted', async () => {
      await setup();
      const l1 = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      await l1.release();
      const l2 = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'B' });
      await l2.release();
      await env.deleteRecord(KEY);
      const s = env.store();
      if (env.claimsSurviveDeletion !== false) {
        // The newest claim (epoch 2, by a live process) stands in for the missing record for one ttl at most.
        await assert.rejects(
          s.acquire(KEY, { ttlMs: T, instanceId: 'C' }),
          (e) => code(e) === 'ECONFLICT' && /claimed/.test((e as Error).message),
        );
        const state = await s.describe(KEY);
        assert.equal(state.state, 'unknown');
        assert.equal(state.state === 'unknown' && state.reason, 'claimed');
        await env.advance(T + slack);
      }
      const l3 = await s.acquire(KEY, { ttlMs: T, instanceId: 'C' });
      nextEpoch(l3.epoch, l2.epoch);
      await l3.release();
    });

    it("a stale writer's record never frees or steals a newer holder's lease", async () => {
      await setup();
      const a = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      const staleA = a.record;
      await env.crash(a);
      const b = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'B' });
      nextEpoch(b.epoch, a.epoch);
      // A stalled inside a transaction while its mutex was broken, then resumed and wrote its old record:
      // first as a renewal, then as a release. Neither may let anyone else take the lease from B.
      const other = env.store();
      await env.writeRecordUnsafely({ ...staleA, renewals: staleA.renewals + 1 });
      await assert.rejects(other.acquire(KEY, { ttlMs: T, instanceId: 'C' }), (e) => code(e) === 'ECONFLICT');
      await env.writeRecordUnsafely({ ...staleA, renewals: staleA.renewals + 2, releasedAt: Date.now() });
      await assert.rejects(other.acquire(KEY, { ttlMs: T, instanceId: 'C' }), (e) => code(e) === 'ECONFLICT');
      assert.equal((await other.describe(KEY)).state, 'unknown');
      // B's next renewal repairs the record, and B keeps holding throughout.
      await env.advance(T);
      b.check();
      assert.equal((await other.inspect(KEY))?.instanceId, 'B');
      await assert.rejects(other.acquire(KEY, { ttlMs: T, instanceId: 'C' }), (e) => code(e) === 'ECONFLICT');
      b.check();
      await b.release();
      const c = await other.acquire(KEY, { ttlMs: T, instanceId: 'C' });
      nextEpoch(c.epoch, b.epoch);
      await c.release();
    });

    // An observer that saw a damaged record, missed the holder's repair, and sees the same damage again
    // (a record deleted twice, the same bytes truncated twice) must not take it for unchanged since the
    // first time: the holder renewed in between, and holds.
    for (const damage of ['deleteRecord', 'corruptRecord'] as const)
      it(`a record damaged the same way twice (${damage}) is not judged unchanged since the first time`, async () => {
        await setup();

        const a = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
        const nextRenewal = async () => {
          const n = a.record.renewals;
          while (a.record.renewals === n) await env.advance(5);
        };
        const observer = env.store();
        await env[damage](KEY);
        await assert.rejects(observer.acquire(KEY, { ttlMs: T, instanceId: 'O' }), (e) => code(e) === 'ECONFLICT');
        // The first renewal repairs the record (the observer does not look); five renewals are more than a
        // ttl on every clock (renewals are a third of a ttl apart). Right after the last, the same damage.
        for (let i = 0; i < 5; i++) await nextRenewal();
        await env[damage](KEY);
        await assert.rejects(observer.acquire(KEY, { ttlMs: T, instanceId: 'O' }), (e) => code(e) === 'ECONFLICT');
        a.check();
        await a.release();
      });

    it('a corrupt record blocks for one ttl at most and keeps epochs rising', async () => {
      await setup();
      const l1 = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A' });
      await l1.release();
      await env.corruptRecord(KEY);
      const s = env.store();
      if (env.corruptRecordBlocks !== false) {
        const state = await s.describe(KEY);
        assert.equal(state.state, 'unknown');
        await assert.rejects(
          s.acquire(KEY, { ttlMs: T, instanceId: 'B' }),
          (e) => code(e) === 'ECONFLICT' && /unreadable/.test((e as Error).message),
        );
        await env.advance(T + slack); // the record's own ttl cannot be read: the acquirer's applies
      } else assert.equal((await s.describe(KEY)).state, 'free', 'garbage where no holder is blocks nothing');
      const l2 = await s.acquire(KEY, { ttlMs: T, instanceId: 'B' });
      nextEpoch(l2.epoch, l1.epoch);
      await l2.release();
    });

    it('updateMeta rewrites the advertised meta', async () => {
      await setup();
      const lease = await env.store().acquire(KEY, { ttlMs: T, instanceId: 'A', meta: { endpoint: 'one' } });
      await lease.updateMeta({ endpoint: 'two' });
      assert.deepEqual((await env.store().inspect(KEY))?.meta, { endpoint: 'two' });
      await lease.release();
    });

    it('rejects nonsensical timing with EINVALIDCONFIG naming the field', async () => {
      await setup();
      const s = env.store();
      await assert.rejects(s.acquire(KEY, { ttlMs: 5 }), (e) => code(e) === 'EINVALIDCONFIG' && (e as LeaseholdError).field === 'ttlMs');
      await assert.rejects(
        s.acquire(KEY, { ttlMs: 1000, renewIntervalMs: 900 }),
        (e) => code(e) === 'EINVALIDCONFIG' && (e as LeaseholdError).field === 'renewIntervalMs',
      );
      await assert.rejects(s.acquire('/nope', {}), (e) => code(e) === 'EINVALIDKEY');
    });
  });
}
