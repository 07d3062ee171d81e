/**
 * Failover beside the peers, one machine, one run (issue: prove it). For each: a holder and a waiting
 * contender in separate processes; the time from the holder's graceful exit (or SIGKILL) to the contender
 * reporting leadership, in the contender's monotonic clock.
 *  - leasehold: FileLeaseStore (bench/fixtures/lease-contender) — the lease alone, as the others are
 *  - proper-lockfile alone: stale takeover (it clamps stale ≥ 2000 ms)
 *  - broadcast-channel 7 (Node, 'node' method): createLeaderElection with its defaults
 *  - etcd 3.4 (Debian's etcd-server on loopback) with the etcd3 client: election with a 2 s lease
 *  - leasehold's EtcdLeaseStore on that etcd, the lease alone (a holder killed on this machine is seen
 *    gone by its pid, as with the file store)
 * Skips a peer (with the reason in the table) when it cannot run here.
 */
import { join } from 'node:path';
import { spawnNode, killAll, outPath, type Proc } from '../test/integration/proc.js';
import { startEtcd } from '../test/lease/etcd-server.js';
import { systemClock } from '../src/clock.js';
import { delay, tempRoot } from '../test/helpers.js';
import { summarize, type Row } from './stats.js';

const PEER = outPath('../../bench/fixtures/peer-contender.js');
const LEASE = outPath('../../bench/fixtures/lease-contender.js');
const LOCKFILE = outPath('../../bench/fixtures/lockfile-contender.js');

interface Pair {
  holder: Proc;
  waiter: Proc;
}

/** One failover: start a holder, then a waiter; end the holder; time until the waiter leads. */
async function failover(start: () => Promise<Pair>, end: (holder: Proc) => void, leaderEv: string): Promise<number> {
  const { holder, waiter } = await start();
  try {
    const t0 = systemClock.now();
    end(holder);
    const line = await waiter.waitFor((l) => l.ev === leaderEv, 30_000);
    return (line.t as number) - t0;
  } finally {
    await killAll([holder, waiter]);
  }
}

async function series(n: number, start: () => Promise<Pair>, end: (h: Proc) => void, leaderEv: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await failover(start, end, leaderEv));
  return out;
}

const LEASE_GRACEFUL = 'leasehold: graceful release → other holds';
const LEASE_KILL = 'leasehold: SIGKILL → other holds';

function row(measure: string, samples: number[], baseline?: string): Row {
  return summarize('peers', measure, 'ms', samples, baseline ? { baseline } : {});
}

export async function peersBench(rounds = 7): Promise<Row[]> {
  const root = await tempRoot('leasehold-bench-peers-');
  const rows: Row[] = [];
  const graceful = (ev: string) => (h: Proc) => h.send(ev);
  const kill = (h: Proc) => h.child.kill('SIGKILL');
  try {
    // leasehold (the lease alone)
    let k = 0;
    /** A holder and a waiter of leasehold's lease, on a data root or `etcd:<endpoint>`. */
    const leasePairOn = (where: string, ttlMs: number) => async (): Promise<Pair> => {
      const key = `/app/peers/l${++k}`;
      const holder = spawnNode(LEASE, [where, key, String(ttlMs)]);
      await holder.waitFor((l) => l.ev === 'acquired', 30_000);
      const waiter = spawnNode(LEASE, [where, key, String(ttlMs)]);
      await waiter.waitFor((l) => l.ev === 'waiting');
      return { holder, waiter };
    };
    const leasePair = leasePairOn(root.dir, 1000);
    rows.push(row(LEASE_GRACEFUL, await series(rounds, leasePair, graceful('release'), 'acquired')));
    rows.push(row(LEASE_KILL, await series(rounds, leasePair, kill, 'acquired')));

    // proper-lockfile alone (no graceful variant measured: unlock is immediate, takeover is the retry interval)
    const lockPair = async (): Promise<Pair> => {
      const file = join(root.dir, `lock-${++k}`);
      const holder = spawnNode(LOCKFILE, [file]);
      await holder.waitFor((l) => l.ev === 'acquired');
      const waiter = spawnNode(LOCKFILE, [file]);
      await waiter.waitFor((l) => l.ev === 'waiting');
      return { holder, waiter };
    };
    rows.push(row('proper-lockfile: SIGKILL → other holds (stale takeover)', await series(3, lockPair, kill, 'acquired'), LEASE_KILL));

    // broadcast-channel's leader election
    const bcPair = async (): Promise<Pair> => {
      const name = `leasehold-bench-${process.pid}-${++k}`;
      const holder = spawnNode(PEER, ['broadcast-channel', name]);
      await holder.waitFor((l) => l.ev === 'leader', 30_000);
      const waiter = spawnNode(PEER, ['broadcast-channel', name]);
      await waiter.waitFor((l) => l.ev === 'waiting');
      await delay(1500); // let it see the leader and settle as a follower
      return { holder, waiter };
    };
    rows.push(
      row('broadcast-channel: graceful die() → other leads', await series(rounds, bcPair, graceful('resign'), 'leader'), LEASE_GRACEFUL),
    );
    rows.push(row('broadcast-channel: SIGKILL → other leads', await series(3, bcPair, kill, 'leader'), LEASE_KILL));

    // etcd's election
    const etcd = await startEtcd(root.dir);
    if (typeof etcd === 'string') rows.push(row(`etcd election — skipped: ${etcd}`, []));
    else
      try {
        const etcdPair = async (): Promise<Pair> => {
          const name = `e${++k}`;
          const holder = spawnNode(PEER, ['etcd', name, etcd.endpoint]);
          await holder.waitFor((l) => l.ev === 'leader', 30_000);
          const waiter = spawnNode(PEER, ['etcd', name, etcd.endpoint]);
          await waiter.waitFor((l) => l.ev === 'waiting');
          await delay(300);
          return { holder, waiter };
        };
        rows.push(
          row(
            'etcd (2 s lease): graceful resign() → other leads',
            await series(rounds, etcdPair, graceful('resign'), 'leader'),
            LEASE_GRACEFUL,
          ),
        );
        rows.push(row('etcd (2 s lease): SIGKILL → other leads', await series(3, etcdPair, kill, 'leader'), LEASE_KILL));
        // leasehold's lease on the same etcd (EtcdLeaseStore), as the file store's rows above
        const etcdLeasePair = leasePairOn(`etcd:${etcd.endpoint}`, 2000);
        rows.push(
          row(
            'leasehold on etcd (2 s lease): release → other holds',
            await series(rounds, etcdLeasePair, graceful('release'), 'acquired'),
            LEASE_GRACEFUL,
          ),
        );
        rows.push(
          row('leasehold on etcd (2 s lease): SIGKILL → other holds', await series(rounds, etcdLeasePair, kill, 'acquired'), LEASE_KILL),
        );
      } finally {
        await etcd.stop();
      }
    return rows;
  } finally {
    await root.remove();
  }
}
