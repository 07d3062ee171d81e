/**
 * Takeover of a large state (issue: costs that do not grow with uptime). An owner process applies N small
 * mutations as fast as they apply (each its own key: a state of up to 1 000 000 keys), with FOLLOWERS
 * follower processes keeping their replicas; then the owner is SIGKILLed, and the time from the kill to the
 * next owner serving with every follower connected is measured, RUNS times (a fresh follower joins, and
 * catches up, before each next kill). The first kill comes right after the flood, when the journal holds
 * the most entries past its snapshot (up to a few times `snapshotEvery`: the flood outran the snapshots);
 * later ones kill an owner that took over and compacted what it recovered. Beside it, in the same run:
 *  - the same takeover on a fresh data root (as many followers, an empty state),         baseline
 *  - the time a fresh process takes to load the killed owner's newest snapshot alone,    baseline
 *  target: takeover ≤ 1.5 × (fresh root + snapshot alone).
 * Every takeover's new owner must hold all N mutations (its version is checked).
 */
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, killAll } from '../test/integration/proc.js';
import { tempRoot, delay } from '../test/helpers.js';
import { PeerCluster, journalDir, printTimeline, settled, takeover, type Peer } from './peer-cluster.js';
import { summarize, type Row } from './stats.js';

const JOURNAL_OWNER = joinPath(dirname(fileURLToPath(import.meta.url)), 'fixtures/journal-owner.js');
const FOLLOWERS = 2;
const RUNS = 3;
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function takeoverBench(histories: number[], group = 'takeover'): Promise<Row[]> {
  const cluster = new PeerCluster();
  const roots = [];
  const rows: Row[] = [];
  try {
    // Baseline: a fresh data root.
    const fresh = await tempRoot('leasehold-bench-takeover-fresh-');
    roots.push(fresh);
    const idle: Peer[] = [cluster.start(fresh.dir)];
    let s = await settled(idle, 0);
    for (let i = 0; i < FOLLOWERS; i++) idle.push(cluster.start(fresh.dir));
    s = await settled(idle, s.epoch - 1);
    const freshMs: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t = await takeover(idle, s.owner, s.epoch);
      freshMs.push(t.ms);
      idle.splice(idle.indexOf(s.owner), 1);
      idle.push(cluster.start(fresh.dir));
      s = await settled(idle, t.epoch - 1);
      await delay(200);
    }
    for (const p of idle) p.proc.child.kill('SIGKILL');

    for (const n of histories) {
      const root = await tempRoot('leasehold-bench-takeover-');
      roots.push(root);
      const peers: Peer[] = [cluster.start(root.dir, 'owner')];
      let s = await settled(peers, 0);
      for (let i = 0; i < FOLLOWERS; i++) peers.push(cluster.start(root.dir));
      s = await settled(peers, s.epoch - 1);
      s.owner.proc.send(`fill ${n}`);
      await s.owner.proc.waitFor((l) => l.ev === 'filled', 600_000);
      const synced = async (ps: Peer[]) => {
        for (const p of ps) {
          p.proc.send(`at ${n}`);
          await p.proc.waitFor((l) => l.ev === 'at', 600_000);
        }
      };
      await synced(peers.filter((p) => p !== s.owner));
      const ms: number[] = [];
      const snapMs: number[] = [];
      /** Entries after the newest snapshot at each kill. */
      const tails: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const dir = journalDir(root.dir)!;
        const newest = readdirSync(dir)
          .filter((x) => /^snapshot-\d+\.json$/.test(x))
          .sort()
          .at(-1);
        const saved = joinPath(root.dir, `newest-snapshot-${r}`);
        if (newest) cpSync(joinPath(dir, newest), saved);
        tails.push(n - Number(/\d+/.exec(newest ?? '0')![0]));
        const t = await takeover(peers, s.owner, s.epoch);
        printTimeline(`of ${n} mutations`, peers, t.killedAt);
        ms.push(t.ms);
        t.owner.proc.send('counters');
        const v = (await t.owner.proc.waitFor((l) => l.ev === 'counters' && (l.t as number) > t.killedAt, 60_000)).version;
        if (v !== n) throw new Error(`the new owner holds version ${v}, not ${n}`);
        // The snapshot alone, in a fresh process (each run on a copy of its own: recovery starts a part).
        const snapDir = joinPath(root.dir, `snapshot-alone-${r}`, 'state');
        mkdirSync(snapDir, { recursive: true, mode: 0o700 });
        if (newest) cpSync(saved, joinPath(snapDir, newest));
        const p = spawnNode(JOURNAL_OWNER, ['recover', snapDir]);
        cluster.procs.push(p);
        snapMs.push(((await p.waitFor((l) => l.ev === 'recovered', 120_000)) as { ms: number }).ms);
        await p.exited;
        // The next round: a new follower joins and catches up.
        peers.splice(peers.indexOf(s.owner), 1);
        const joined = cluster.start(root.dir);
        peers.push(joined);
        s = await settled(peers, t.epoch - 1, 120_000);
        await synced([joined]);
        await delay(200);
      }
      const g = `${group} ${n}`;
      rows.push(
        summarize(g, `takeover on a fresh data root, ${FOLLOWERS} followers (baseline)`, 'ms', freshMs),
        summarize(g, 'load of the newest snapshot alone, in a fresh process (baseline)', 'ms', snapMs),
        summarize(g, `SIGKILL of an owner that applied ${n} mutations → new owner serving, ${FOLLOWERS} followers connected`, 'ms', ms, {
          target: { value: 1.5 * (med(freshMs) + med(snapMs)), kind: 'max', of: 'p50', note: '1.5 × (fresh root + snapshot alone)' },
        }),
        summarize(g, `the first of them, right after the flood (${tails[0]} entries after the snapshot)`, 'ms', ms.slice(0, 1), {
          target: { value: 1.5 * (med(freshMs) + med(snapMs)), kind: 'max', of: 'p50', note: '1.5 × (fresh root + snapshot alone)' },
        }),
      );
      for (const p of peers) p.proc.child.kill('SIGKILL');
    }
  } finally {
    await killAll(cluster.procs);
    for (const r of roots) await r.remove();
  }
  return rows;
}
