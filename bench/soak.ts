/**
 * `npm run soak` (not part of `npm test`): an owner and FOLLOWERS follower processes (bench/fixtures/
 * soak-peer.ts) under a moderate steady load for `--minutes` (default 10; env SOAK_MINUTES), then a
 * SIGKILL of the owner. Prints a table per minute (acks, ack latency p50/p99, owner RSS, the journal's
 * bytes on disk) and checks, exiting with status 1 when one fails:
 *  1. owner RSS flat after warm-up: the last minute's median ≤ RSS_GROWTH × the median of minute 2 (the
 *     first after a minute of warm-up) + RSS_SLACK_MIB (with fewer than 3 minutes there is nothing to
 *     compare: reported, not checked);
 *  2. p99 ack latency in the last minute ≤ P99_GROWTH × the first minute's;
 *  3. no mutation failed, no instance reported an error;
 *  4. every acknowledged increment is in the state the next owner recovered, exactly once (each follower's
 *     counter equals its acknowledged increments);
 *  5. the journal on disk ≤ 2 × snapshot + snapshotEvery entries at every sample (every SAMPLE_MS);
 *  6. takeover after the SIGKILL (→ new owner serving, every follower connected to it) ≤ 1.5 × (the same
 *     takeover on a fresh data root + the time to load the final state from its snapshot alone), both
 *     measured in this run.
 * Options: --minutes N, --rate R (mutations a second in all, default 400), --followers N (default 8).
 * With LEASEHOLD_DEBUG=1 it also prints each takeover's steps in every process, in ms after the SIGKILL.
 */
import { cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnNode, killAll } from '../test/integration/proc.js';
import { tempRoot, delay } from '../test/helpers.js';
import { PeerCluster, journalDir, printTimeline, settled, takeover, type Peer } from './peer-cluster.js';
import { systemClock } from '../src/clock.js';
import { frame } from '../src/state/journal/frames.js';
import { percentile } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const JOURNAL_OWNER = joinPath(here, 'fixtures/journal-owner.js');
const SAMPLE_MS = 5000;
const RSS_GROWTH = 1.2;
const RSS_SLACK_MIB = 8;
const P99_GROWTH = 1.5;
/** Every DURABLE_EVERYth mutation of a follower is durable, the others `durable: false`. */
const DURABLE_EVERY = 3;
/** The journal's default (config.ts). */
const SNAPSHOT_EVERY = 10_000;
const BASELINE_ROUNDS = 3;
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.SOAK_MINUTES ?? '10' },
    rate: { type: 'string', default: '400' },
    followers: { type: 'string', default: '8' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const followers = Number(values.followers);

const cluster = new PeerCluster();
const procs = cluster.procs;
const start = (root: string, name?: string) => cluster.start(root, name);

function diskUse(dir: string): { total: number; snapshot: number } {
  let total = 0;
  let snapshot = 0;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('journal-') && !name.startsWith('snapshot-')) continue;
    const size = statSync(joinPath(dir, name), { throwIfNoEntry: false })?.size ?? 0;
    total += size;
    if (name.startsWith('snapshot-')) snapshot = Math.max(snapshot, size);
  }
  return { total, snapshot };
}

const fresh = await tempRoot('leasehold-soak-fresh-');
const root = await tempRoot('leasehold-soak-');
let failed = false;
try {
  // Baseline: takeover on a fresh data root, with as many followers, idle.
  process.stderr.write(`baseline: takeover on a fresh data root (${BASELINE_ROUNDS} rounds)…\n`);
  const idle: Peer[] = [];
  idle.push(start(fresh.dir));
  let s = await settled(idle, 0);
  for (let i = 0; i < followers; i++) idle.push(start(fresh.dir));
  s = await settled(idle, s.epoch - 1);
  const freshMs: number[] = [];
  for (let r = 0; r < BASELINE_ROUNDS; r++) {
    const t = await takeover(idle, s.owner, s.epoch);
    if (r === BASELINE_ROUNDS - 1) printTimeline('fresh root', idle, t.killedAt);
    freshMs.push(t.ms);
    idle.splice(idle.indexOf(s.owner), 1);
    idle.push(start(fresh.dir));
    s = await settled(idle, t.epoch - 1);
    await delay(200);
  }
  for (const p of idle) p.proc.child.kill('SIGKILL');

  // The soak: an owner that sends nothing, then the followers that do.
  const owner = start(root.dir, 'owner');
  const first = await settled([owner], 0);
  const load = Array.from({ length: followers }, (_, i) => start(root.dir, `f${i + 1}`));
  const all = [owner, ...load];
  await settled(all, first.epoch - 1);
  const dir = journalDir(root.dir) ?? '';
  // The largest entry the load writes (an id of 12 characters, versions of 7 digits).
  const entryBytes = frame({
    t: 'm',
    v: 9_999_999,
    e: 99,
    id: ['x'.repeat(12), 9_999_999],
    m: { op: 'set', path: 'k.f8.999', value: 9_999_999 },
  }).length;
  process.stderr.write(`soak: ${minutes} min, ${rate} mutations/s over ${followers} followers…\n`);
  const t0 = systemClock.now();
  for (const f of load) f.proc.send(`go ${rate / followers} ${DURABLE_EVERY}`);
  const disk: { t: number; total: number; bound: number }[] = [];
  while (systemClock.now() - t0 < minutes * 60_000) {
    await delay(SAMPLE_MS);
    const d = diskUse(journalDir(root.dir) ?? dir);
    disk.push({ t: systemClock.now() - t0, total: d.total, bound: 2 * d.snapshot + SNAPSHOT_EVERY * entryBytes });
  }
  for (const f of load) f.proc.send('stop');
  const stopped = await Promise.all(load.map((f) => f.proc.waitFor((l) => l.ev === 'stopped', 60_000)));
  await delay(500); // the last lazy flushes

  // Per minute: acks and their latency (all followers), the owner's RSS, the journal on disk.
  const rows = Array.from({ length: minutes }, (_, m) => {
    const inMinute = (l: Record<string, unknown>) => Math.floor(((l.t as number) - t0) / 60_000) === m;
    const lat = load.flatMap((f) => f.proc.lines.filter((l) => l.ev === 'acks' && inMinute(l)).flatMap((l) => l.lat as number[]));
    const rss = owner.proc.lines.filter((l) => l.ev === 'rss' && inMinute(l)).map((l) => l.rss as number);
    const d = disk.filter((x) => Math.floor(x.t / 60_000) === m);
    return {
      minute: m + 1,
      acks: lat.length,
      p50: lat.length ? percentile(lat, 50) : NaN,
      p99: lat.length ? percentile(lat, 99) : NaN,
      rss: rss.length ? percentile(rss, 50) / MiB : NaN,
      disk: d.length ? Math.max(...d.map((x) => x.total)) / MiB : NaN,
      bound: d.length ? Math.min(...d.map((x) => x.bound)) / MiB : NaN,
    };
  });

  // The takeover, and the state the next owner recovered.
  const newest = readdirSync(dir)
    .filter((x) => /^snapshot-\d+\.json$/.test(x))
    .sort()
    .at(-1);
  const saved = joinPath(root.dir, 'newest-snapshot');
  if (newest) cpSync(joinPath(dir, newest), saved);
  const t = await takeover(all, owner, first.epoch);
  printTimeline('after the soak', all, t.killedAt);
  t.owner.proc.send('counters');
  const counters = (await t.owner.proc.waitFor((l) => l.ev === 'counters', 30_000)).counters as Record<string, number>;
  const snapMs: number[] = [];
  for (let r = 0; r < BASELINE_ROUNDS; r++) {
    // Each run on a copy of its own (recovery starts a part there).
    const snapDir = joinPath(root.dir, `snapshot-alone-${r}`, 'state');
    mkdirSync(snapDir, { recursive: true, mode: 0o700 });
    if (newest) cpSync(saved, joinPath(snapDir, newest));
    const p = spawnNode(JOURNAL_OWNER, ['recover', snapDir]);
    procs.push(p);
    snapMs.push(((await p.waitFor((l) => l.ev === 'recovered', 120_000)) as { ms: number }).ms);
    await p.exited;
  }

  console.log(`soak: ${minutes} min, ${rate} mutations/s over ${followers} followers (every ${DURABLE_EVERY}rd durable)\n`);
  console.log('| minute | acks   | p50 ms | p99 ms | owner RSS MiB | journal on disk MiB (max) | bound MiB (min) |');
  console.log('| ------ | ------ | ------ | ------ | ------------- | ------------------------- | --------------- |');
  for (const r of rows)
    console.log(
      `| ${String(r.minute).padEnd(6)} | ${String(r.acks).padEnd(6)} | ${r.p50.toFixed(2).padEnd(6)} | ${r.p99.toFixed(2).padEnd(6)} | ` +
        `${r.rss.toFixed(1).padEnd(13)} | ${r.disk.toFixed(2).padEnd(25)} | ${r.bound.toFixed(2).padEnd(15)} |`,
    );

  const checks: [string, boolean][] = [];
  const last = rows.at(-1)!;
  if (rows.length >= 3) {
    const ref = rows[1]!.rss;
    checks.push([
      `owner RSS flat: last minute ${last.rss.toFixed(1)} ≤ ${RSS_GROWTH} × minute 2 ${ref.toFixed(1)} + ${RSS_SLACK_MIB} MiB`,
      last.rss <= RSS_GROWTH * ref + RSS_SLACK_MIB,
    ]);
  } else console.log(`(owner RSS: fewer than 3 minutes, nothing after warm-up to compare)`);
  checks.push([
    `p99 ack latency: last minute ${last.p99.toFixed(2)} ≤ ${P99_GROWTH} × first minute ${rows[0]!.p99.toFixed(2)} ms`,
    last.p99 <= P99_GROWTH * rows[0]!.p99,
  ]);
  const errors =
    stopped.reduce((a, l) => a + (l.errors as number), 0) + procs.reduce((a, p) => a + p.lines.filter((l) => l.ev === 'error').length, 0);
  checks.push([`errors: ${errors}`, errors === 0]);
  const acked = load.map((f, i) => [f.name, stopped[i]!.increments as number] as const);
  const wrong = acked.filter(([name, k]) => counters[name] !== k);
  checks.push([
    `every acknowledged increment recovered exactly once (${acked.reduce((a, [, k]) => a + k, 0)} increments, ${wrong.length} counters off${wrong.length ? ': ' + wrong.map(([nm, k]) => `${nm} ${counters[nm]} ≠ ${k}`).join(', ') : ''})`,
    wrong.length === 0,
  ]);
  const over = disk.filter((x) => x.total > x.bound);
  const worst = disk.reduce((w, x) => (x.total / x.bound > w.total / w.bound ? x : w), disk[0]!);
  checks.push([
    `journal on disk within 2 × snapshot + ${SNAPSHOT_EVERY} entries of ${entryBytes} B at all ${disk.length} samples (nearest: ${(worst.total / MiB).toFixed(2)} of ${(worst.bound / MiB).toFixed(2)} MiB at ${(worst.t / 1000).toFixed(0)} s)`,
    over.length === 0,
  ]);
  const target = 1.5 * (percentile(freshMs, 50) + percentile(snapMs, 50));
  checks.push([
    `takeover after the soak ${t.ms.toFixed(0)} ms ≤ 1.5 × (fresh root ${percentile(freshMs, 50).toFixed(0)} + snapshot alone ${percentile(snapMs, 50).toFixed(0)} ms) = ${target.toFixed(0)} ms`,
    t.ms <= target,
  ]);
  console.log('');
  for (const [what, ok] of checks) {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failed = true;
  }
} finally {
  await killAll(procs);
  await root.remove();
  await fresh.remove();
}
process.exit(failed ? 1 : 0);
