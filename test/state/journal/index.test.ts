import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { Journal, recoverDir, type Log, type Snapshot } from '../../../src/state/journal/index.js';
import { OwnerState } from '../../../src/state/owner-state.js';
import { until, withStateDir } from '../../helpers.js';

const ok = () => undefined;

/**
 * node:fs whose flushes of a snapshot's temp file in the pool (a snapshot over SNAPSHOT_SYNC_IN_POOL_BYTES
 * has one before its sync on the loop) wait until `release()`.
 */
function heldSnapshotFlushes() {
  const temps = new Set<number>();
  let held: (() => void)[] = [];
  let holding = true;
  const fs = {
    ...nodeFs,
    openSync: ((path: string, flags: number, mode?: number) => {
      const fd = nodeFs.openSync(path, flags, mode);
      if (path.endsWith('.tmp')) temps.add(fd);
      return fd;
    }) as typeof nodeFs.openSync,
    fdatasync: ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (holding && temps.has(fd)) held.push(() => nodeFs.fdatasync(fd, cb));
      else nodeFs.fdatasync(fd, cb);
    }) as typeof nodeFs.fdatasync,
  };
  return {
    fs,
    get waiting() {
      return held.length;
    },
    release() {
      holding = false;
      for (const go of held) go();
      held = [];
    },
  };
}

/** A value of 12 000 characters: a hundred of them make a snapshot past SNAPSHOT_SYNC_IN_POOL_BYTES. */
const bulky = (i: number) => `${i}:${'x'.repeat(12_000)}`;

describe('Journal: when the next snapshot starts', () => {
  it('counts the entries written while a snapshot was written as the lead of the next one', () =>
    withStateDir('leasehold-journal-', async (dir) => {
      const held = heldSnapshotFlushes();
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok, fs: held.fs });
      assert.equal(journal.lead, 0, 'no compaction yet');
      const entry = (v: number) => ({
        t: 'm' as const,
        v,
        e: 1,
        id: ['A', v] as [string, number],
        m: { op: 'set', path: `k${v}`, value: v },
      });
      for (let v = 1; v <= 10; v++) await journal.appendEntry(entry(v));
      const state = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, bulky(i)]));
      const compacted = journal.compact({ version: 10, epoch: 1, stateVersion: 0, state, dedup: {} });
      await until(() => held.waiting > 0, 5000, 'the snapshot waits for its flush');
      for (let v = 11; v <= 40; v++) await journal.appendEntry(entry(v));
      held.release();
      await compacted;
      assert.equal(journal.lead, 30, 'the entries written while the snapshot was');
      await journal.close();
    }));

  it('an owner starts the next snapshot early by the lead, so that the journal peaks near snapshotEvery entries', () =>
    withStateDir('leasehold-journal-', async (dir) => {
      // A state past SNAPSHOT_SYNC_IN_POOL_BYTES (its snapshots are flushed in the pool, where the test
      // holds them), made by an earlier owner: small entries then reach `compactEvery` before a quarter of
      // its size.
      const first = await Journal.open({ dir, epoch: 1, guard: ok });
      await first.journal.appendEntry({ t: 'm', v: 1, e: 1, id: ['A', 0], m: { op: 'set', path: 'seed', value: 0 } });
      const big = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`b${i}`, bulky(i)]));
      await first.journal.compact({ version: 1, epoch: 1, stateVersion: 0, state: big, dedup: {} });
      await first.journal.close();
      const held = heldSnapshotFlushes();
      const { journal, recovered } = await Journal.open({ dir, epoch: 2, guard: ok, fs: held.fs });
      const started: number[] = [];
      const log: Log = {
        append: (v, json, waited) => journal.append(v, json, waited),
        get written() {
          return journal.written;
        },
        get lead() {
          return journal.lead;
        },
        get snapshotBytes() {
          return journal.snapshotBytes;
        },
        compact: (s: Snapshot) => (started.push(s.version), journal.compact(s)),
      };
      const owner = new OwnerState(log, recovered, 2, { guard: ok, maxValueBytes: 1024, compactEvery: 100 });
      let seq = 0;
      const mutate = () => owner.mutate({ op: 'set', path: `k${seq}`, value: seq }, ['A', ++seq]);
      while (started.length === 0) await mutate();
      // No lead yet: a tenth of compactEvery early.
      assert.deepEqual(started, [91]);
      await until(() => held.waiting > 0, 5000, 'the snapshot waits for its flush');
      for (let i = 0; i < 30; i++) await mutate(); // written while the snapshot is
      held.release();
      await until(() => owner.snapshotVersion === 91, 5000, 'the snapshot is written');
      while (started.length === 1) await mutate();
      // Due at 91 + 100 − 1.5 × lead: the 30 entries that came while the first one was written, and half
      // as many again.
      assert.equal(journal.lead, 30);
      assert.equal(started[1], 146);
      await until(() => owner.snapshotVersion === started[1], 5000, 'the second snapshot is written');
      await journal.close();
    }));
});

describe('Journal: a crash at any step of a compaction', () => {
  it('leaves a directory that recovers every acknowledged entry, whatever step the process died before', () =>
    withStateDir('leasehold-journal-', async (dir) => {
      const entry = (v: number) => ({
        t: 'm' as const,
        v,
        e: 1,
        id: ['A', v] as [string, number],
        m: { op: 'set', path: `k${v}`, value: v },
      });
      const state = (to: number) => Object.fromEntries(Array.from({ length: to }, (_, i) => [`k${i + 1}`, i + 1]));
      // The directory as it is on disk before each file operation (a process crash keeps the page cache).
      const side = `${dir}-crashes`;
      const before: { step: string; copy: string }[] = [];
      let capturing = false;
      const capture = (step: string) => {
        if (!capturing) return;
        const copy = `${side}/${before.length}/state`;
        nodeFs.mkdirSync(copy, { recursive: true, mode: 0o700 });
        for (const name of nodeFs.readdirSync(dir)) nodeFs.copyFileSync(`${dir}/${name}`, `${copy}/${name}`);
        before.push({ step, copy });
      };
      const wrap = <K extends keyof typeof nodeFs>(name: K): Partial<typeof nodeFs> =>
        ({
          [name]: (...args: unknown[]) => {
            capture(name);
            return (nodeFs[name] as (...a: unknown[]) => unknown)(...args);
          },
        }) as Partial<typeof nodeFs>;
      const fs = {
        ...nodeFs,
        ...wrap('openSync'),
        ...wrap('write'),
        ...wrap('writeSync'),
        ...wrap('fdatasync'),
        ...wrap('fdatasyncSync'),
        ...wrap('closeSync'),
        ...wrap('renameSync'),
        ...wrap('fsync'),
        ...wrap('fsyncSync'),
        ...wrap('unlink'),
        ...wrap('ftruncate'),
      } as typeof nodeFs;
      // Parts of two entries: the second compaction has finished parts of its own to delete.
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok, fs, partMaxEntries: 2 });
      for (let v = 1; v <= 5; v++) await journal.appendEntry(entry(v));
      await journal.compact({ version: 5, epoch: 1, stateVersion: 0, state: state(5), dedup: {} });
      for (let v = 6; v <= 10; v++) await journal.appendEntry(entry(v));
      capturing = true;
      await journal.compact({ version: 10, epoch: 1, stateVersion: 0, state: state(10), dedup: {} });
      capture('done');
      capturing = false;
      await journal.close();
      const steps = before.map((b) => b.step);
      // A snapshot this small is written on the loop (writeSync); a large one's chunks go through `write`.
      for (const step of ['openSync', 'writeSync', 'fdatasyncSync', 'closeSync', 'renameSync', 'fsyncSync', 'unlink'])
        assert.ok(steps.includes(step), `a crash before ${step} is covered (${steps.join(', ')})`);
      for (const { step, copy } of before) {
        const r = recoverDir(copy);
        const rebuilt: Record<string, unknown> = { ...((r.snapshot?.state as Record<string, unknown>) ?? {}) };
        for (const e of r.entries) rebuilt[(e.m as { path: string }).path] = (e.m as { value: number }).value;
        assert.equal(r.version, 10, `recovered version after a crash before ${step}`);
        assert.deepEqual(rebuilt, state(10), `recovered state after a crash before ${step}`);
      }
      nodeFs.rmSync(side, { recursive: true, force: true });
    }));
});
