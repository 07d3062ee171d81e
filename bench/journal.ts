/**
 * Journal benchmarks (issue: costs that do not grow with uptime). An owner process applies N small
 * mutations (a snapshot every `SNAPSHOT_EVERY`) and is killed (SIGKILL); then, each in a fresh process and
 * alternating, the next owner's recovery (Journal.open + OwnerState: what a takeover adds to the lease's
 * part, which does not depend on the history) is timed on
 *  - an empty data root (baseline),
 *  - a directory holding only the newest snapshot of the same state (baseline),
 *  - the journal the killed owner left                 target ≤ 1.5 × (empty + snapshot alone)
 * with the recovering process's peak RSS; and the journal's disk use (parts, snapshots, temp files),
 * sampled after every batch of 1 000 mutations while the owner wrote, each sample against
 * 2 × snapshot (the larger of the newest on disk and the one being written) + SNAPSHOT_EVERY entries (the row
 * shows the sample nearest its bound, or the worst one past it).
 *
 * Recovery memory: the same with a long history of a state that does not grow (mutations overwriting
 * 1 000 keys with 1 KiB values), at two history lengths: the recovering process's peak RSS beside the
 * state's size must not grow with the history (bytes written in total beside bytes kept on disk).
 */
import { cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, killAll, type Proc } from '../test/integration/proc.js';
import { tempRoot } from '../test/helpers.js';
import { summarize, type Row } from './stats.js';

const OWNER = joinPath(dirname(fileURLToPath(import.meta.url)), 'fixtures/journal-owner.js');
export const SNAPSHOT_EVERY = 10_000;
const RUNS = 3;
const MiB = 1024 * 1024;
/** Long histories for the memory rows: entries of about this many bytes over MEMORY_KEYS keys. */
const MEMORY_VALUE_BYTES = 1024;
const MEMORY_KEYS = 1000;

export interface JournalBenchOptions {
  /** Small-mutation history lengths (mutations applied before the SIGKILL). */
  histories: number[];
  /** Long-history lengths (mutations of ≈ 1 KiB) for the recovery-memory rows; none: no such rows. */
  memoryHistories?: number[];
  group?: string;
}

interface Written {
  ms: number;
  samples: number;
  worst: { ratio: number; at: number; bound: number; total: number; parts: number; snapshots: number; temp: number; snapshot: number };
  entryBytes: number;
  maxLead: number;
  writtenBytes: number;
  keptBytes: number;
}

export async function journalBench(o: JournalBenchOptions): Promise<Row[]> {
  const group = o.group ?? 'journal';
  const root = await tempRoot('leasehold-bench-journal-');
  const procs: Proc[] = [];
  const rows: Row[] = [];
  try {
    const recoverIn = async (dir: string) => {
      const p = spawnNode(OWNER, ['recover', dir]);
      procs.push(p);
      const l = await p.waitFor((x) => x.ev === 'recovered', 300_000);
      await p.exited;
      return l as { ms: number; maxRssMiB: number; version: number; entries: number };
    };
    let copy = 0;
    const fresh = (from?: string, only?: (n: string) => boolean) => {
      const d = joinPath(root.dir, `c${++copy}`, 'state');
      mkdirSync(d, { recursive: true, mode: 0o700 });
      if (from) for (const n of readdirSync(from)) if (!only || only(n)) cpSync(joinPath(from, n), joinPath(d, n));
      return d;
    };
    const write = async (n: number, extra: string[] = []) => {
      const dir = joinPath(root.dir, `w${++copy}`, 'state');
      const w = spawnNode(OWNER, ['write', dir, String(n), String(SNAPSHOT_EVERY), ...extra]);
      procs.push(w);
      const done = (await w.waitFor((l) => l.ev === 'done', 1_800_000)) as unknown as Written;
      w.child.kill('SIGKILL');
      await w.exited;
      const newest = readdirSync(dir)
        .filter((x) => /^snapshot-\d+\.json$/.test(x))
        .sort()
        .at(-1)!;
      return { dir, done, newest, snapshotBytes: statSync(joinPath(dir, newest)).size };
    };
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

    for (const n of o.histories) {
      const { dir, done, newest } = await write(n);
      const empty: number[] = [];
      const snap: number[] = [];
      const full: number[] = [];
      const rss: number[] = [];
      let replayed = 0;
      for (let r = 0; r < RUNS; r++) {
        empty.push((await recoverIn(fresh())).ms);
        snap.push((await recoverIn(fresh(dir, (x) => x === newest))).ms);
        const f = await recoverIn(fresh(dir));
        if (f.version !== n) throw new Error(`recovered version ${f.version}, not ${n}`);
        full.push(f.ms);
        rss.push(f.maxRssMiB);
        replayed = f.entries;
      }
      const g = `${group} ${n}`;
      const w = done.worst;
      rows.push(
        summarize(g, 'recovery on an empty data root (baseline)', 'ms', empty),
        summarize(g, 'recovery from the newest snapshot alone (baseline)', 'ms', snap),
        summarize(
          g,
          `recovery after SIGKILL of an owner that applied ${n} mutations (${replayed} entries after its snapshot)`,
          'ms',
          full,
          {
            target: { value: 1.5 * (med(empty) + med(snap)), kind: 'max', of: 'p50', note: '1.5 × (empty + snapshot alone)' },
          },
        ),
        summarize(g, 'peak RSS of the recovering process', 'MiB', rss),
        {
          group: g,
          name:
            `journal on disk, the sample nearest its bound of ${done.samples} while writing (${(done.ms / 1000).toFixed(0)} s; ` +
            `at v${w.at}: parts ${(w.parts / MiB).toFixed(2)}, snapshots ${(w.snapshots / MiB).toFixed(2)}, temp ${(w.temp / MiB).toFixed(2)} MiB; ` +
            `≤ ${done.maxLead} entries past a snapshot while it was written)`,
          unit: 'MiB',
          p50: w.total / MiB,
          p99: w.total / MiB,
          n: done.samples,
          target: {
            value: w.bound / MiB,
            kind: 'max',
            of: 'p50',
            note: `2 × the larger snapshot + ${SNAPSHOT_EVERY} entries of ${done.entryBytes} B, at that sample`,
          },
        },
      );
    }

    if (o.memoryHistories?.length) {
      const g = `${group} memory`;
      const empty: number[] = [];
      for (let r = 0; r < RUNS; r++) empty.push((await recoverIn(fresh())).maxRssMiB);
      rows.push(summarize(g, 'peak RSS recovering an empty data root (baseline)', 'MiB', empty));
      for (const n of o.memoryHistories) {
        const { dir, done, snapshotBytes } = await write(n, [String(MEMORY_VALUE_BYTES), String(MEMORY_KEYS)]);
        const rss: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          const f = await recoverIn(fresh(dir));
          if (f.version !== n) throw new Error(`recovered version ${f.version}, not ${n}`);
          rss.push(f.maxRssMiB);
        }
        rows.push(
          summarize(
            g,
            `peak RSS recovering ${(done.writtenBytes / MiB).toFixed(0)} MiB of history (${(done.keptBytes / MiB).toFixed(1)} MiB kept; ` +
              `state ${(snapshotBytes / MiB).toFixed(1)} MiB)`,
            'MiB',
            rss,
            {
              target: {
                value: med(empty) + (8 * (snapshotBytes + SNAPSHOT_EVERY * done.entryBytes)) / MiB,
                kind: 'max',
                of: 'p50',
                note: 'empty + 8 × (state + snapshotEvery entries)',
              },
            },
          ),
        );
      }
    }
    return rows;
  } finally {
    await killAll(procs);
    await root.remove();
  }
}
