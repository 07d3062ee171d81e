/**
 * EtcdLeaseStore under real processes and seeded faults (lease-stress.ts) on a cluster of three etcd
 * members: besides the holder's faults, the etcd leader is killed and restarted, and a member is stopped
 * (SIGSTOP) for up to two ttls. Never two holders, epochs rise, a stopped holder learns it lost. Skips,
 * saying why, where etcd is not installed. Replay a failure with LEASEHOLD_SEED=<seed>.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdLeaseStore } from '../../src/lease/etcd-store.js';
import { delay, tempRoot } from '../helpers.js';
import { startEtcdCluster, type EtcdMember } from '../lease/etcd-server.js';
import { runLeaseStress, type StoreFault } from './lease-stress.js';

/** The shortest lease etcd grants here (etcd-server.ts, fast timing). */
const TTL = 1000;

describe('EtcdLeaseStore under real processes and a failing etcd cluster', () => {
  it('never has two holders, epochs rise, and a stopped holder learns it lost', { timeout: 180_000 }, async (t) => {
    const root = await tempRoot('leasehold-etcd-stress-');
    const cluster = await startEtcdCluster(root.dir, 3, { fast: true });
    if (typeof cluster === 'string') {
      await root.remove();
      return t.skip(cluster);
    }
    const client = new Etcd3({ hosts: cluster.map((m) => m.endpoint) });
    const observer = new EtcdLeaseStore({ client });
    const leaderOf = async (): Promise<EtcdMember | undefined> => {
      for (const m of cluster) if (await m.isLeader().catch(() => false)) return m;
      return undefined;
    };
    const faults: StoreFault[] = [
      {
        name: 'killLeader',
        run: async (rand, log) => {
          const leader = await leaderOf();
          if (!leader) return;
          log(`etcd leader ${leader.name} SIGKILL`);
          await leader.stop();
          await delay(TTL * (0.5 + rand()));
          leader.start();
          log(`etcd ${leader.name} restarted`);
        },
      },
      {
        name: 'stopMember',
        run: async (rand, log) => {
          const m = cluster[Math.floor(rand() * cluster.length)]!;
          log(`etcd ${m.name} SIGSTOP`);
          m.child.kill('SIGSTOP');
          await delay(TTL * (0.5 + 1.5 * rand()));
          m.child.kill('SIGCONT');
          log(`etcd ${m.name} SIGCONT`);
        },
      },
    ];
    try {
      const r = await runLeaseStress({
        where: `etcd:${cluster.map((m) => m.endpoint).join(',')}`,
        observer,
        key: '/app/stress/owner',
        ttlMs: TTL,
        holdMs: 80,
        rounds: 40,
        storeFaults: { share: 0.25, faults },
      });
      const etcdFaults = (r.counts.killLeader ?? 0) + (r.counts.stopMember ?? 0);
      assert.equal(r.violations.length, 0, `seed ${r.seed}: ${r.violations.length} violations\n${r.report}`);
      assert.ok(r.acquisitions >= 20, `seed ${r.seed}: only ${r.acquisitions} acquisitions (${JSON.stringify(r.counts)})`);
      assert.ok(etcdFaults >= 3 && r.counts.kill! + r.counts.stop! >= 5, `seed ${r.seed}: too few faults ${JSON.stringify(r.counts)}`);
      console.log(`# etcd lease stress seed ${r.seed}: ${r.acquisitions} acquisitions, faults ${JSON.stringify(r.counts)}, 0 violations`);
    } finally {
      await observer.close();
      client.close();
      await Promise.all(cluster.map((m) => m.stop()));
      await root.remove();
    }
  });
});
