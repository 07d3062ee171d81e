/**
 * Journal benchmarks (issue: costs that do not grow with uptime). An owner process applies N small
 * mutations (a snapshot every `SNAPSHOT_EVERY`) and is killed (SIGKILL); then, each in a fresh process and
 * alternating, the next owner's recovery (Journal.open + OwnerState: what a takeover adds to the lease's
 * part, which does not depend on the history) is timed on
 *  - an empty data root (baseline),
 *  - a directory holding only the newest snapshot of the same state (baseline),
 *  - the journal the killed owner left                 target ≤ 1.5 × (empty + snapshot alone)
 * with the recovering process's peak RSS, for two history lengths (it must not grow with the history);
 * and the largest disk use of the journal while the owner wrote, beside 2 × snapshot + SNAPSHOT_EVERY
 * entries.
 */
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, killAll, type Proc } from '../test/integration/proc.js';
import { tempRoot } from '../test/helpers.js';
import { frame } from '../src/state/journal/frames.js';
import { summarize, type Row } from './stats.js';

const OWNER = joinPath(dirname(fileURLToPath(import.meta.url)), 'fixtures/journal-owner.js');
const SNAPSHOT_EVERY = 10_000;
/** History lengths: the longer one is what fits in about a minute on a 2-core machine. */
const HISTORIES = (process.env.JOURNAL_BENCH_N ?? '50000,200000').split(',').map(Number);
const RUNS = 3;
const MiB = 1024 * 1024;

export async function journalBench(): Promise<Row[]> {
  const root = await tempRoot('leasehold-bench-journal-');
  const procs: Proc[] = [];
  const rows: Row[] = [];
  try {
    const recoverIn = async (dir: string) => {
      const p = spawnNode(OWNER, ['recover', dir]);
      procs.push(p);
      const l = await p.waitFor((x) => x.ev === 'recovered', 120_000);
      await p.exited;
      return l as { ms: number; maxRssMiB: number; version: number };
    };
    let copy = 0;
    const fresh = (from?: string, only?: (n: string) => boolean) => {
      const d = joinPath(root.dir, `c${++copy}`, 'state');
      mkdirSync(d, { recursive: true, mode: 0o700 });
      if (from) for (const n of readdirSync(from)) if (!only || only(n)) cpSync(joinPath(from, n), joinPath(d, n));
      return d;
    };
    for (const n of HISTORIES) {
      const dir = joinPath(root.dir, `w${n}`, 'state');
      const w = spawnNode(OWNER, ['write', dir, String(n), String(SNAPSHOT_EVERY)]);
      procs.push(w);
      const done = (await w.waitFor((l) => l.ev === 'done', 600_000)) as { ms: number; maxJournal: number; snapshotAtMax: number };
      w.child.kill('SIGKILL');
      await w.exited;
      const newest = readdirSync(dir)
        .filter((x) => /^snapshot-\d+\.json$/.test(x))
        .sort()
        .at(-1)!;
      const empty: number[] = [];
      const snap: number[] = [];
      const full: number[] = [];
      const rss: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        empty.push((await recoverIn(fresh())).ms);
        snap.push((await recoverIn(fresh(dir, (x) => x === newest))).ms);
        const f = await recoverIn(fresh(dir));
        if (f.version !== n) throw new Error(`recovered version ${f.version}, not ${n}`);
        full.push(f.ms);
        rss.push(f.maxRssMiB);
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const g = `journal ${n}`;
      const entryBytes = frame({ t: 'm', v: n, e: 1, id: ['W', n], m: { op: 'set', path: 'g99.h99.k99', value: n } }).length;
      rows.push(
        summarize(g, 'recovery on an empty data root (baseline)', 'ms', empty),
        summarize(g, 'recovery from the newest snapshot alone (baseline)', 'ms', snap),
        summarize(g, `recovery after SIGKILL of an owner that applied ${n} mutations`, 'ms', full, {
          target: { value: 1.5 * (med(empty) + med(snap)), kind: 'max', of: 'p50', note: '1.5 × (empty + snapshot alone)' },
        }),
        summarize(g, 'peak RSS of the recovering process', 'MiB', rss),
        {
          group: g,
          name: `largest journal on disk while writing (${(done.ms / 1000).toFixed(0)} s)`,
          unit: 'MiB',
          p50: done.maxJournal / MiB,
          p99: done.maxJournal / MiB,
          n: 1,
          target: {
            value: (2 * done.snapshotAtMax + SNAPSHOT_EVERY * entryBytes) / MiB,
            kind: 'max',
            of: 'p50',
            note: `2 × snapshot + ${SNAPSHOT_EVERY} entries of ${entryBytes} B`,
          },
        },
      );
    }
    return rows;
  } finally {
    await killAll(procs);
    await root.remove();
  }
}
