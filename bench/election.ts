/**
 * Election benchmarks (issues: owner election and takeover; failover near the floor). Real `leasehold
 * instance` processes.
 *  - graceful handover: SIGTERM to the owner (its close()) → the new owner serving and every follower
 *    connected to it: 8 followers (target p50 ≤ 10 ms), 32 instances (≤ 40 ms)
 *  - crash: SIGKILL of the owner → the same point: 8 followers (≤ 40 ms), 32 instances (≤ 150 ms)
 *  - process start → role known, beside a bare node start                           (target ≤ +30 ms)
 *    (a bare node start before each measured start, so that both see the same noise)
 * Baselines from the same run: a raw ws connect and a raw ws round trip on loopback.
 */
import { Cluster, type Member } from '../test/integration/cluster.js';
import { systemClock } from '../src/clock.js';
import { spawnNode } from '../test/integration/proc.js';
import { BIN } from '../test/integration/cluster.js';
import { tempRoot, delay } from '../test/helpers.js';
import { rawWs, bareNodeStart } from './baselines.js';
import { percentile, summarize, type Row } from './stats.js';

const FOLLOWERS = 8;
/** The larger cluster: this many instances in all (the owner and 31 followers). */
const MANY = 32;

/** Monotonic time at which `m` reported owning `epoch` / being connected to it. */
const ownedAt = (m: Member, epoch: number) =>
  m.proc.lines.find((l) => l.event === 'role' && l.role === 'owner' && l.epoch === epoch)?.t as number | undefined;
const connectedAt = (m: Member, epoch: number) =>
  m.proc.lines.find((l) => l.event === 'connected' && l.epoch === epoch)?.t as number | undefined;

async function failovers(signal: 'SIGTERM' | 'SIGKILL', rounds: number, followers = FOLLOWERS): Promise<number[]> {
  const cluster = await Cluster.create();
  const samples: number[] = [];
  try {
    for (let i = 0; i <= followers; i++) cluster.start();
    let owner = await cluster.waitSettled();
    for (let r = 0; r < rounds; r++) {
      const t0 = systemClock.now();
      owner.proc.child.kill(signal);
      const next = await cluster.waitSettled(owner.epoch, 15_000);
      await owner.proc.exited;
      const followers = cluster.live().filter((m) => m !== next);
      const done = Math.max(ownedAt(next, next.epoch)!, ...followers.map((m) => connectedAt(m, next.epoch)!));
      samples.push(done - t0);
      cluster.start(); // back to as many followers
      owner = await cluster.waitSettled(next.epoch - 1, 30_000);
      await delay(50);
    }
    return samples;
  } finally {
    await cluster.stop();
  }
}

/**
 * Each round starts a bare node first, then an owner and a follower: the baseline is measured in the same
 * moments as what it is compared with (the host's noise changes within minutes here).
 */
async function startToRole(n = 15): Promise<{ bare: number[]; owner: number[]; followerRole: number[]; follower: number[] }> {
  const bare: number[] = [];
  const owner: number[] = [];
  const followerRole: number[] = [];
  const follower: number[] = [];
  for (let i = 0; i < n; i++) {
    bare.push(...(await bareNodeStart(1)));
    const root = await tempRoot('leasehold-bench-start-');
    const t0 = systemClock.now();
    const a = spawnNode(BIN, ['instance', '--data-root', root.dir]);
    const role = await a.waitFor((l) => l.event === 'role');
    owner.push((role.t as number) - t0);
    const t1 = systemClock.now();
    const b = spawnNode(BIN, ['instance', '--data-root', root.dir]);
    const r = await b.waitFor((l) => l.event === 'role');
    followerRole.push((r.t as number) - t1);
    const c = await b.waitFor((l) => l.event === 'connected');
    follower.push((c.t as number) - t1);
    b.child.kill('SIGKILL');
    a.child.kill('SIGKILL');
    await Promise.all([a.exited, b.exited]);
    await root.remove();
  }
  return { bare, owner, followerRole, follower };
}

export async function electionBench(rounds = 15): Promise<Row[]> {
  const ws = await rawWs();
  const graceful = await failovers('SIGTERM', rounds);
  const crash = await failovers('SIGKILL', rounds);
  const manyGraceful = await failovers('SIGTERM', 7, MANY - 1);
  const manyCrash = await failovers('SIGKILL', 7, MANY - 1);
  const start = await startToRole();
  const node = start.bare;
  const bare = percentile(node, 50);
  return [
    summarize('election', 'raw ws connect (baseline)', 'ms', ws.connect),
    summarize('election', 'raw ws round trip (baseline)', 'ms', ws.rtt),
    summarize('election', `graceful handover → owner + ${FOLLOWERS} followers connected`, 'ms', graceful, {
      baseline: 'raw ws connect (baseline)',
      target: { value: 10, kind: 'max', of: 'p50' },
    }),
    summarize('election', `SIGKILL owner → owner + ${FOLLOWERS} followers connected`, 'ms', crash, {
      baseline: 'raw ws connect (baseline)',
      target: { value: 40, kind: 'max', of: 'p50' },
    }),
    summarize('election', `graceful handover → ${MANY} instances connected`, 'ms', manyGraceful, {
      baseline: 'raw ws connect (baseline)',
      target: { value: 40, kind: 'max', of: 'p50' },
    }),
    summarize('election', `SIGKILL owner → ${MANY} instances connected`, 'ms', manyCrash, {
      baseline: 'raw ws connect (baseline)',
      target: { value: 150, kind: 'max', of: 'p50' },
    }),
    summarize('election', 'bare node start (baseline)', 'ms', node),
    summarize('election', 'start → role known (owner)', 'ms', start.owner, {
      baseline: 'bare node start (baseline)',
      target: { value: bare + 30, kind: 'max', of: 'p50', note: 'bare node + 30' },
    }),
    summarize('election', 'start → role known (follower)', 'ms', start.followerRole, {
      baseline: 'bare node start (baseline)',
      target: { value: bare + 30, kind: 'max', of: 'p50', note: 'bare node + 30' },
    }),
    summarize('election', 'start → connected to the owner (follower)', 'ms', start.follower, { baseline: 'bare node start (baseline)' }),
  ];
}
