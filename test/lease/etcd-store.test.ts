/**
 * EtcdLeaseStore against a real etcd (etcd-server.ts): the lease contract, then what is etcd's own. Skips,
 * saying why, where etcd is not installed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdLeaseStore } from '../../src/lease/etcd-store.js';
import type { HeldLease } from '../../src/lease/held-lease.js';
import type { LeaseStore } from '../../src/lease/store.js';
import { LeaseholdError } from '../../src/errors.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { leaseContract } from './contract.js';
import { startEtcd } from './etcd-server.js';
import { deadPid, delay, PausableClock, tempRoot, until } from '../helpers.js';

/** etcd grants 1 s here (etcd-server.ts); it revokes expired leases in rounds of 500 ms. */
const TTL = 1000;
const EXPIRY_SLACK_MS = 700;

const root = await tempRoot('leasehold-etcd-');
const server = await startEtcd(root.dir, { fast: true });
after(async () => {
  if (typeof server !== 'string') await server.stop();
  await root.remove();
});

const code = (err: unknown) => (err instanceof LeaseholdError ? err.code : undefined);

if (typeof server === 'string') {
  describe('EtcdLeaseStore', () => {
    it('runs against a real etcd', (t) => t.skip(server));
  });
} else {
  const client = new Etcd3({ hosts: server.endpoint });
  after(() => client.close());
  let suite = 0;

  /** A store of its own under a fresh prefix; the clock a PausableClock over a wall clock that can jump. */
  const env = () => {
    const prefix = `/t${++suite}`;
    let wallOffset = 0;
    const clock: Clock = {
      now: () => systemClock.now(),
      wallNow: () => systemClock.wallNow() + wallOffset,
      setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms),
    };
    const stores: EtcdLeaseStore[] = [];
    const clocks = new Map<LeaseStore, PausableClock>();
    const store = () => {
      const c = new PausableClock(clock);
      const s = new EtcdLeaseStore({ client, prefix, clock: c, pollIntervalMs: 10 });
      stores.push(s);
      clocks.set(s, c);
      return s;
    };
    const path = (key: string) => `${prefix}${key}`;
    return {
      prefix,
      path,
      clock,
      store,
      jumpWall: (ms: number) => void (wallOffset += ms),
      clocks,
      dispose: async () => {
        await Promise.all(stores.map((s) => s.close()));
        await client.delete().prefix(`${prefix}/`);
      },
    };
  };

  leaseContract('EtcdLeaseStore on a real etcd', async () => {
    const e = env();
    return {
      clock: e.clock,
      store: e.store,
      advance: (ms) => delay(ms),
      hang: (s) => e.clocks.get(s)!.pause(),
      resume: (s) => e.clocks.get(s)!.resume(),
      jumpWall: e.jumpWall,
      // A killed process: no more keepalives, and a record naming a pid that is gone (under its own lease).
      crash: async (lease) => {
        (lease as HeldLease).abandon('closed');
        const kv = (await client.kv.range({ key: Buffer.from(e.path(String(lease.key))) })).kvs[0]!;
        const rec = JSON.parse(kv.value.toString());
        await client
          .put(e.path(String(lease.key)))
          .value(JSON.stringify({ ...rec, pid: deadPid() }))
          .lease(kv.lease);
      },
      deleteRecord: async (key) => void (await client.delete().key(e.path(key))),
      writeRecordUnsafely: async (record) => void (await client.put(e.path(record.key)).value(JSON.stringify(record))),
      corruptRecord: async (key) => void (await client.put(e.path(key)).value('{"format":1,"key":"/app/con')),
      dispose: e.dispose,
      ttl: TTL,
      expirySlackMs: EXPIRY_SLACK_MS,
      epochsByOne: false,
      claimsSurviveDeletion: false,
      corruptRecordBlocks: false,
    };
  });

  describe('EtcdLeaseStore: what is etcd’s own', () => {
    const KEY = '/app/etcd/owner';

    it('takes the lock’s create revision as the epoch, rising across keys and acquisitions', async () => {
      const e = env();
      try {
        const s = e.store();
        const a = await s.acquire(KEY, { ttlMs: TTL, instanceId: 'A' });
        const lock = (await client.kv.range({ key: Buffer.from(`${e.prefix}/.lock${KEY}`) })).kvs[0]!;
        assert.equal(a.epoch, Number(lock.create_revision));
        assert.equal((await s.inspect(KEY))?.epoch, a.epoch);
        await s.acquire('/app/etcd/other', { ttlMs: TTL, instanceId: 'X' });
        await a.release();
        const b = await s.acquire(KEY, { ttlMs: TTL, instanceId: 'B' });
        assert.ok(b.epoch > a.epoch + 1, `epoch ${b.epoch} after ${a.epoch} and another key's acquisition`);
        await b.release();
      } finally {
        await e.dispose();
      }
    });

    it('a lock deleted under its holder (etcdctl del) frees the key, and the holder learns it was superseded', async () => {
      const e = env();
      try {
        const a = await e.store().acquire(KEY, { ttlMs: TTL, instanceId: 'A' });
        await client.delete().key(`${e.prefix}/.lock${KEY}`);
        const b = await e.store().acquire(KEY, { ttlMs: TTL, instanceId: 'B' });
        assert.ok(b.epoch > a.epoch);
        await until(() => a.lost.aborted, 3 * TTL, 'A renews and finds its lock gone');
        assert.equal((a.lost.reason as LeaseholdError).reason, 'superseded');
        assert.equal(b.held, true);
        await b.release();
      } finally {
        await e.dispose();
      }
    });

    it('updateMeta keeps a pin that another store made meanwhile', async () => {
      const e = env();
      try {
        const s = e.store();
        const a = await s.acquire(KEY, { ttlMs: TTL, instanceId: 'A', meta: { endpoint: 'one' } });
        const pinner = e.store();
        await pinner.pin(KEY, 'upgrade');
        await a.updateMeta({ endpoint: 'two' });
        assert.deepEqual(await pinner.pinned(), { [KEY]: ['upgrade'] });
        assert.deepEqual((await s.inspect(KEY))?.meta, { endpoint: 'two' });
        await pinner.unpin(KEY, 'upgrade');
        await a.release();
      } finally {
        await e.dispose();
      }
    });

    it('a record damaged under a holder of a long ttl never lets a contender of a short ttl in', async () => {
      const e = env();
      try {
        const b = await e.store().acquire(KEY, { ttlMs: 3 * TTL, instanceId: 'B' });
        await client.put(e.path(KEY)).value('garbage');
        const c = e.store();
        await assert.rejects(c.acquire(KEY, { ttlMs: TTL, instanceId: 'C' }), (err) => code(err) === 'ECONFLICT');
        await delay(TTL + EXPIRY_SLACK_MS); // more than C's ttl: whether B repaired its record or not, its lock decides
        await assert.rejects(c.acquire(KEY, { ttlMs: TTL, instanceId: 'C' }), (err) => code(err) === 'ECONFLICT');
        b.check();
        await b.release();
      } finally {
        await e.dispose();
      }
    });

    it('reports a lease lost from its own deadline while etcd does not answer, not from etcd’s', async () => {
      const e = env();
      const a = await e.store().acquire(KEY, { ttlMs: TTL, instanceId: 'A' });
      const validUntil = () => (a as HeldLease).validUntil;
      try {
        server.child.kill('SIGSTOP');
        const stoppedAt = systemClock.now();
        const deadline = validUntil();
        await until(() => a.lost.aborted, 3 * TTL, 'the lease ends while etcd is stopped');
        const endedAt = systemClock.now();
        assert.ok(endedAt - stoppedAt <= TTL + 250, `lost ${Math.round(endedAt - stoppedAt)} ms after etcd stopped (ttl ${TTL})`);
        assert.ok(endedAt >= deadline - 1, 'not before its deadline');
        assert.ok(
          ['expired', 'io'].includes((a.lost.reason as LeaseholdError).reason!),
          `lost: ${(a.lost.reason as LeaseholdError).reason}`,
        );
        assert.throws(
          () => a.check(),
          (err) => code(err) === 'ELOST',
        );
      } finally {
        server.child.kill('SIGCONT');
        await e.dispose();
      }
    });

    it('never takes over a holder of another machine, even one with this host name and a pid gone here', async () => {
      const e = env();
      try {
        const s = e.store();
        const a = await s.acquire(KEY, { ttlMs: TTL, instanceId: 'A' });
        const kv = (await client.kv.range({ key: Buffer.from(e.path(KEY)) })).kvs[0]!;
        const rec = JSON.parse(kv.value.toString());
        // Two cloned machines share a host name: only the boot id tells them apart.
        await client
          .put(e.path(KEY))
          .value(JSON.stringify({ ...rec, machine: 'another-boot-id', pid: deadPid() }))
          .lease(kv.lease);
        await assert.rejects(e.store().acquire(KEY, { ttlMs: TTL, instanceId: 'B' }), (err) => code(err) === 'ECONFLICT');
        await client
          .put(e.path(KEY))
          .value(JSON.stringify({ ...rec, machine: rec.machine, pid: deadPid() }))
          .lease(kv.lease);
        const b = await e.store().acquire(KEY, { ttlMs: TTL, instanceId: 'B' });
        assert.ok(b.epoch > a.epoch, 'a holder of this machine whose pid is gone is taken over at once');
        await b.release();
      } finally {
        await e.dispose();
      }
    });

    it('refuses garbage in etcd without throwing out of a timer: a pinned record naming a huge ttl', async () => {
      const e = env();
      try {
        const s = e.store();
        await s.acquire(KEY, { ttlMs: TTL, instanceId: 'A' });
        const pinner = e.store();
        await pinner.pin(KEY, 'p');
        const kv = (await client.kv.range({ key: Buffer.from(e.path(KEY)) })).kvs[0]!;
        const rec = JSON.parse(kv.value.toString());
        await client
          .put(e.path(KEY))
          .value(JSON.stringify({ ...rec, ttlMs: 4e14, renewIntervalMs: 1 }))
          .lease(kv.lease);
        const state = await pinner.describe(KEY);
        assert.equal(state.state, 'unknown', 'a record naming a ttl of 12 000 years is damage');
        await delay(3 * TTL); // the pin's keepalives and the holder's renewals go on; nothing throws
        assert.equal((await pinner.describe(KEY)).state, 'held', 'the holder rewrote its record');
      } finally {
        await e.dispose();
      }
    });
  });
}
