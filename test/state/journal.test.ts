import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeSyncFs from 'node:fs';
import { readFile, writeFile, readdir, rename, symlink, chmod, mkdir, lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Journal,
  recoverDir,
  prefetch,
  frame,
  frameJson,
  parseFrames,
  allZero,
  partName,
  snapshotName,
  type Entry,
} from '../../src/state/journal/index.js';
import { beginRecord, type Fence } from '../../src/state/journal/layout.js';
import { PREALLOC_MIN_STEP } from '../../src/state/journal/segment-writer.js';
import { LeaseholdError } from '../../src/errors.js';
import { refused, tempRoot, withStateDir, withUmask } from '../helpers.js';

const entry = (v: number, e: number, seq = v): Entry => ({ t: 'm', v, e, id: ['A', seq], m: { op: 'set', path: `k${v}`, value: v } });
const ok = () => undefined;
/** The length of the begin record of part `p` of epoch `e` whose first version is `v`. */
const beginLength = (e: number, v = 1, prev: Fence | null = null, p = 0) => frame(beginRecord(e, p, v, prev)).length;
const seg = (e: number, p = 0) => partName(e, p);

const withDir = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withStateDir('leasehold-journal-', fn);

describe('Journal', () => {
  it('makes the name of a new part durable (a directory fsync) before anything in it is acknowledged', () =>
    withDir(async (dir) => {
      // Every fsync of a directory and every acknowledgement, in order.
      const trail: string[] = [];
      const dirFds = new Set<number>();
      const fs = {
        ...nodeSyncFs,
        openSync: ((path: string, flags: number, mode?: number) => {
          const fd = nodeSyncFs.openSync(path, flags, mode);
          if (path === dir) dirFds.add(fd);
          return fd;
        }) as typeof nodeSyncFs.openSync,
        fsyncSync: (fd: number) => {
          if (dirFds.has(fd)) trail.push('dir');
          nodeSyncFs.fsyncSync(fd);
        },
        fsync: ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
          if (dirFds.has(fd)) trail.push('dir');
          nodeSyncFs.fsync(fd, cb);
        }) as typeof nodeSyncFs.fsync,
      };
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok, fs, partMaxEntries: 2 });
      for (let v = 1; v <= 5; v++) await journal.appendEntry(entry(v, 1)).then(() => trail.push(`ack ${v}`));
      await journal.close();
      // Part 0 (versions 1–2), part 1 (3–4), part 2 (5): a directory fsync before the first ack of each.
      assert.deepEqual(
        trail.filter((t, i) => t !== 'dir' || trail[i - 1] !== 'dir'),
        ['dir', 'ack 1', 'ack 2', 'dir', 'ack 3', 'ack 4', 'dir', 'ack 5'],
      );
    }));

  it('recovers every appended entry in order across owners (epochs)', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      assert.deepEqual(a.recovered.entries, []);
      await Promise.all([1, 2, 3].map((v) => a.journal.appendEntry(entry(v, 1))));
      await a.journal.close();
      const b = await Journal.open({ dir, epoch: 2, guard: ok });
      assert.deepEqual(
        b.recovered.entries.map((e) => e.v),
        [1, 2, 3],
      );
      await b.journal.appendEntry(entry(4, 2));
      await b.journal.close();
      const recovered = recoverDir(dir);
      assert.deepEqual(
        recovered.entries.map((e) => [e.v, e.e]),
        [
          [1, 1],
          [2, 1],
          [3, 1],
          [4, 2],
        ],
      );
    }));

  it('group commit: many concurrent appends share few flushes', () =>
    withDir(async (dir) => {
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok });
      await Promise.all(Array.from({ length: 200 }, (_, i) => journal.appendEntry(entry(i + 1, 1))));
      assert.equal(journal.stats.entries, 200);
      assert.ok(journal.stats.flushes < 20, `${journal.stats.flushes} flushes for 200 appends`);
      await journal.close();
      assert.equal(recoverDir(dir).entries.length, 200);
    }));

  it('cuts a torn tail of the newest segment, never half-applying it', () =>
    withDir(async (dir) => {
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok });
      await journal.appendEntry(entry(1, 1));
      await journal.appendEntry(entry(2, 1));
      await journal.close();
      // The crash came mid-write: part of entry 3 landed at the end of the records, in the preallocated zeros.
      const end = beginLength(1) + frame(entry(1, 1)).length + frame(entry(2, 1)).length;
      const whole = frame(entry(3, 1));
      const fd = nodeSyncFs.openSync(journal.path, 'r+');
      nodeSyncFs.writeSync(fd, whole, 0, whole.length - 5, end);
      nodeSyncFs.closeSync(fd);
      const sizeBefore = (await readFile(journal.path)).length;
      const next = await Journal.open({ dir, epoch: 2, guard: ok });
      assert.deepEqual(
        next.recovered.entries.map((e) => e.v),
        [1, 2],
      );
      assert.equal(next.recovered.cut?.path, journal.path);
      assert.equal(next.recovered.cut?.offset, end);
      assert.equal(next.recovered.cut?.bytes, sizeBefore - end);
      assert.equal((await readFile(journal.path)).length, end, 'cut back to the last whole record');
      // The next owner's begin record names exactly that length as its predecessor's.
      const head = parseFrames(await readFile(next.journal.path)).records[0]?.value;
      assert.deepEqual(head, beginRecord(2, 0, 3, { e: 1, p: 0, n: end }));
      await next.journal.close();
    }));

  it('prefetch (a successor standing by) reads everything and changes nothing, not even a torn tail', () =>
    withDir(async (dir) => {
      prefetch(dir); // no journal yet: nothing happens, nothing is thrown
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok });
      await journal.appendEntry(entry(1, 1));
      await journal.close();
      const end = beginLength(1) + frame(entry(1, 1)).length;
      const fd = nodeSyncFs.openSync(journal.path, 'r+');
      nodeSyncFs.writeSync(fd, frame(entry(2, 1)), 0, 10, end); // a torn write
      nodeSyncFs.closeSync(fd);
      const before = await readFile(journal.path);
      const names = await readdir(dir);
      prefetch(dir);
      assert.deepEqual(await readFile(journal.path), before);
      assert.deepEqual(await readdir(dir), names);
      // Damage anywhere else: still nothing thrown, nothing changed (the takeover reports it).
      nodeSyncFs.writeFileSync(join(dir, snapshotName(9)), 'not a frame');
      prefetch(dir);
      assert.deepEqual(await readFile(journal.path), before);
    }));

  it('preallocates segments with zeros that recovery reads as the end of the records', () =>
    withDir(async (dir) => {
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok });
      assert.ok((await readFile(journal.path)).length >= PREALLOC_MIN_STEP, 'the first zeros are written at open');
      // Enough records to need several extensions (each entry ≈ 1 KiB here).
      const big = (v: number): Entry => ({ t: 'm', v, e: 1, id: ['A', v], m: { op: 'set', path: `k${v}`, value: 'x'.repeat(1000) } });
      for (let v = 1; v <= 300; v += 30) await Promise.all(Array.from({ length: 30 }, (_, i) => journal.appendEntry(big(v + i))));
      await journal.close();
      const buf = await readFile(journal.path);
      const parsed = parseFrames(buf);
      assert.equal(parsed.bad, undefined);
      assert.equal(parsed.records.length, 301);
      assert.ok(buf.length > parsed.goodLength, 'zeros follow the records');
      assert.ok(allZero(buf, parsed.goodLength, buf.length));
      assert.deepEqual(
        recoverDir(dir).entries.map((e) => e.v),
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
    }));

  it('a segment whose owner died before writing its begin record is empty, also once newer owners follow', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      await a.journal.appendEntry(entry(1, 1));
      await a.journal.close();
      await writeFile(join(dir, seg(2)), ''); // created, then the process died
      const c = await Journal.open({ dir, epoch: 3, guard: ok });
      await c.journal.appendEntry(entry(2, 3));
      await c.journal.close();
      const d = await Journal.open({ dir, epoch: 4, guard: ok });
      assert.deepEqual(
        d.recovered.entries.map((e) => [e.v, e.e]),
        [
          [1, 1],
          [2, 3],
        ],
      );
      await d.journal.close();
    }));

  it('an empty segment does not lift the fence on the one before it: a deposed owner’s later appends stay out', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      await a.journal.appendEntry(entry(1, 1));
      await writeFile(join(dir, seg(2)), ''); // epoch 2 died before its begin record
      const c = await Journal.open({ dir, epoch: 3, guard: ok });
      assert.deepEqual(
        c.recovered.entries.map((e) => e.v),
        [1],
      );
      // Owner 1, deposed but unaware (stalled), appends on; owner 3 commits its own version 2.
      await a.journal.appendEntry(entry(2, 1, 99));
      await c.journal.appendEntry(entry(2, 3));
      await a.journal.close();
      await c.journal.close();
      const e = await Journal.open({ dir, epoch: 4, guard: ok });
      assert.deepEqual(
        e.recovered.entries.map((x) => [x.v, x.e]),
        [
          [1, 1],
          [2, 3],
        ],
      );
      await e.journal.close();
    }));

  it('a new owner fences the part of the last entry it recovered and deletes the parts no recovery will read', () =>
    withDir(async (dir) => {
      const turn = () => new Promise((r) => setImmediate(r));
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      await a.journal.appendEntry(entry(1, 1));
      // Owners 2, 3 and 4 serve nothing; owner 1, deposed but unaware, appends on after 2 took over.
      const b = await Journal.open({ dir, epoch: 2, guard: ok });
      await a.journal.appendEntry(entry(2, 1, 99));
      await a.journal.close();
      await b.journal.close();
      await turn();
      for (const e of [3, 4]) {
        const j = await Journal.open({ dir, epoch: e, guard: ok });
        await j.journal.close();
        await turn();
      }
      await writeFile(join(dir, seg(5)), ''); // created, then its process died before the begin record
      const f = await Journal.open({ dir, epoch: 6, guard: ok });
      await f.journal.close();
      await turn();
      // 6 fences 1 itself (at the length 2 recorded), so 2 to 5 are read by no recovery after 6 began.
      assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('journal-')).sort(), [seg(1), seg(6)]);
      const recovered = recoverDir(dir);
      assert.deepEqual(
        recovered.entries.map((e) => [e.v, e.id]),
        [[1, ['A', 1]]],
      );
      // Once a snapshot covers 1, every part of an older epoch goes; the next owner fences 7 (no entries,
      // but its deposed owner's late ones must stay out) and no other.
      const g = await Journal.open({ dir, epoch: 7, guard: ok });
      await g.journal.compact({ version: 1, epoch: 7, stateVersion: 0, state: { k1: 1 }, dedup: { A: { seq: 1, v: 1 } } });
      await g.journal.close();
      const h = await Journal.open({ dir, epoch: 8, guard: ok });
      assert.equal(h.recovered.snapshot?.version, 1);
      await h.journal.close();
      assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('journal-')).sort(), [seg(7), seg(8)]);
    }));

  it('a new owner whose disk is full leaves no segment behind', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      await a.journal.appendEntry(entry(1, 1));
      await a.journal.close();
      const full = {
        ...nodeSyncFs,
        writeSync: (() => {
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }) as typeof nodeSyncFs.writeSync,
      };
      await assert.rejects(Journal.open({ dir, epoch: 2, guard: ok, fs: full }), (e) => e instanceof LeaseholdError && e.code === 'EIO');
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.endsWith('.log')),
        [seg(1)],
      );
      const b = await Journal.open({ dir, epoch: 3, guard: ok });
      assert.deepEqual(
        b.recovered.entries.map((e) => e.v),
        [1],
      );
      await b.journal.close();
    }));

  it('the next owner drops the previous segment’s preallocated zeros once it has fenced it', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      await a.journal.appendEntry(entry(1, 1));
      assert.ok((await readFile(a.journal.path)).length >= PREALLOC_MIN_STEP);
      const b = await Journal.open({ dir, epoch: 2, guard: ok });
      await b.journal.close(); // (once its begin record is synced)
      const records = beginLength(1) + frame(entry(1, 1)).length;
      assert.equal((await readFile(a.journal.path)).length, records);
      await a.journal.close();
      assert.deepEqual(
        recoverDir(dir).entries.map((e) => e.v),
        [1],
      );
    }));

  it('a bad frame followed by data after the zeros is corruption, not a torn tail', () =>
    withDir(async (dir) => {
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok });
      await journal.appendEntry(entry(1, 1));
      await journal.close();
      const buf = await readFile(journal.path);
      const end = beginLength(1) + frame(entry(1, 1)).length;
      buf[end] = 7; // a stray header byte where the zeros start …
      buf[buf.length - 1] = 1; // … and something at the far end: not a crash mid-write
      await writeFile(journal.path, buf);
      await assert.rejects(
        Journal.open({ dir, epoch: 2, guard: ok }),
        (e) => e instanceof LeaseholdError && e.code === 'ECORRUPT' && e.path === journal.path && e.offset === end,
      );
      assert.deepEqual(await readFile(journal.path), buf, 'file kept as it was');
    }));

  it('stops with ECORRUPT naming file and offset on damage before the end, modifying nothing', () =>
    withDir(async (dir) => {
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok });
      for (let v = 1; v <= 3; v++) await journal.appendEntry(entry(v, 1));
      await journal.close();
      const buf = await readFile(journal.path);
      const begin = beginLength(1);
      const second = begin + frame(entry(1, 1)).length;
      buf[second + 12] = buf[second + 12]! ^ 0xff; // a byte inside entry 2's payload; entry 3 follows
      await writeFile(journal.path, buf);
      await assert.rejects(
        Journal.open({ dir, epoch: 2, guard: ok }),
        (e) => e instanceof LeaseholdError && e.code === 'ECORRUPT' && e.path === journal.path && e.offset === second,
      );
      assert.deepEqual(await readFile(journal.path), buf, 'file kept as it was');
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.endsWith('.log')),
        [seg(1)],
        'no new segment',
      );
    }));

  it('fences a deposed owner: its appends after the takeover are never recovered; a failing guard acknowledges nothing', () =>
    withDir(async (dir) => {
      const old = await Journal.open({ dir, epoch: 1, guard: ok });
      await old.journal.appendEntry(entry(1, 1));
      const next = await Journal.open({ dir, epoch: 2, guard: ok });
      assert.deepEqual(
        next.recovered.entries.map((e) => e.v),
        [1],
      );
      // The old owner, unaware (stalled), writes on: it lands past the cutoff its successor recorded.
      await old.journal.appendEntry(entry(2, 1, 99));
      await next.journal.appendEntry(entry(2, 2));
      const third = await Journal.open({ dir, epoch: 3, guard: ok });
      assert.deepEqual(
        third.recovered.entries.map((e) => [e.v, e.e]),
        [
          [1, 1],
          [2, 2],
        ],
      );
      // With its real guard (the lease check) the deposed owner could not even have acknowledged it.
      let held = true;
      const j = await Journal.open({
        dir,
        epoch: 4,
        guard: () => {
          if (!held) throw new LeaseholdError('ELOST', 'lost', { reason: 'superseded' });
        },
      });
      held = false;
      await assert.rejects(j.journal.appendEntry(entry(3, 4)), (e) => e instanceof LeaseholdError && e.code === 'ELOST');
      await assert.rejects(Journal.open({ dir, epoch: 3, guard: ok }), (e) => e instanceof LeaseholdError && e.code === 'ELOST');
      for (const x of [old, next, third, j]) await x.journal.close();
    }));

  it('compacts into a snapshot, drops older epochs’ parts and its own covered ones, recovers snapshot + later entries', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      for (let v = 1; v <= 3; v++) await a.journal.appendEntry(entry(v, 1));
      await a.journal.close();
      const b = await Journal.open({ dir, epoch: 2, guard: ok });
      await b.journal.appendEntry(entry(4, 2));
      await b.journal.compact({ version: 4, epoch: 2, stateVersion: 0, state: { k: 4 }, dedup: { A: { seq: 4, v: 4 } } });
      await b.journal.appendEntry(entry(5, 2));
      // The entry after the snapshot went into a new part, and the part the snapshot covers is gone.
      assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.log')).sort(), [seg(2, 1)]);
      await b.journal.compact({ version: 5, epoch: 2, stateVersion: 0, state: { k: 5 }, dedup: { A: { seq: 5, v: 5 } } });
      await b.journal.appendEntry(entry(6, 2));
      await b.journal.close();
      assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.log')).sort(), [seg(2, 2)]);
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.startsWith('snapshot')),
        [snapshotName(5)],
      );
      const recovered = recoverDir(dir);
      assert.equal(recovered.snapshot?.version, 5);
      assert.deepEqual(recovered.snapshot?.dedup, { A: { seq: 5, v: 5 } });
      assert.deepEqual(
        recovered.entries.map((e) => e.v),
        [6],
      );
    }));

  it('compaction of a large state gives the event loop turns while it serializes and writes', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      const state: Record<string, { text: string; i: number }> = {};
      for (let i = 0; i < 3000; i++) state[`k${i}`] = { text: 'x'.repeat(1000), i }; // ≈ 3 MB of JSON
      let turns = 0;
      let running = true;
      const tick = () => {
        if (!running) return;
        turns++;
        setImmediate(tick);
      };
      setImmediate(tick);
      await a.journal.compact({ version: 0, epoch: 1, stateVersion: 0, state, dedup: {} });
      running = false;
      await a.journal.close();
      assert.ok(turns >= 3, `${turns} turns of the event loop while a 3 MB snapshot was written`);
      assert.deepEqual(recoverDir(dir).snapshot?.state, state);
    }));

  it('a deposed owner renaming in an older snapshot late never replaces the newer one', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      for (let v = 1; v <= 3; v++) await a.journal.appendEntry(entry(v, 1));
      // Owner 1's compaction at version 2 is stopped just before its renames (here: its files, kept aside).
      await a.journal.compact({ version: 2, epoch: 1, stateVersion: 0, state: { k1: 1, k2: 2 }, dedup: { A: { seq: 2, v: 2 } } });
      const stale = await readFile(join(dir, snapshotName(2)));
      await a.journal.close();
      // Owner 2 takes over, compacts at version 5 (dropping segment 1) and goes on.
      const b = await Journal.open({ dir, epoch: 2, guard: ok });
      for (let v = 4; v <= 5; v++) await b.journal.appendEntry(entry(v, 2));
      await b.journal.compact({ version: 5, epoch: 2, stateVersion: 0, state: { k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 }, dedup: { A: { seq: 5, v: 5 } } });
      await b.journal.appendEntry(entry(6, 2));
      await b.journal.close();
      assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('snapshot')).sort(), [snapshotName(5)]);
      // Owner 1 resumes: its rename lands now.
      await writeFile(join(dir, snapshotName(2)), stale);
      const recovered = recoverDir(dir);
      assert.equal(recovered.snapshot?.version, 5);
      assert.deepEqual(
        recovered.entries.map((e) => e.v),
        [6],
      );
    }));

  it('a damaged snapshot is reported with its path and offset, in the message and as fields, and kept', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      await a.journal.compact({ version: 0, epoch: 1, stateVersion: 0, state: {}, dedup: {} });
      await a.journal.close();
      const path = join(dir, snapshotName(0));
      const good = await readFile(path);
      const flipped = Buffer.from(good);
      flipped[flipped.length - 2] = flipped[flipped.length - 2]! ^ 0x55;
      await writeFile(path, flipped);
      assert.throws(
        () => recoverDir(dir),
        (e) => {
          assert.ok(e instanceof LeaseholdError && e.code === 'ECORRUPT' && e.path === path && e.offset === 0);
          assert.match(e.message, new RegExp(`snapshot .*snapshot-0+\\.json is damaged at offset 0 \\(checksum mismatch\\)`));
          return true;
        },
      );
      assert.deepEqual(await readFile(path), flipped, 'kept as it was');
      // A checksummed payload that is not JSON: the bad byte's offset in the file (8 header bytes first).
      const text = '{"f":1,"version":0,"epoch":1,}';
      await writeFile(path, frameJson(text));
      assert.throws(
        () => recoverDir(dir),
        (e) => {
          assert.ok(e instanceof LeaseholdError && e.code === 'ECORRUPT' && e.path === path && e.offset === 0);
          assert.match(e.message, new RegExp(`damaged at offset 0 \\(not JSON: bad byte at offset ${8 + text.indexOf('}')}\\)`));
          return true;
        },
      );
      // Two records where one belongs: the second one's offset.
      await writeFile(path, Buffer.concat([good, good]));
      assert.throws(
        () => recoverDir(dir),
        (e) => e instanceof LeaseholdError && e.offset === good.length && /at offset \d+ \(more than one record\)/.test(e.message),
      );
    }));

  it('a full disk rejects the append with EIO naming the file and leaves no partial record', () =>
    withDir(async (dir) => {
      let full = false;
      const syncFs = {
        ...nodeSyncFs,
        writeSync: ((fd: number, buf: Buffer, off: number, len: number, pos: number) => {
          if (full) {
            nodeSyncFs.writeSync(fd, buf, off, Math.floor(len / 2), pos); // part of it lands, then ENOSPC
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          }
          return nodeSyncFs.writeSync(fd, buf, off, len, pos);
        }) as typeof nodeSyncFs.writeSync,
      };
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok, fs: syncFs });
      await journal.appendEntry(entry(1, 1));
      full = true;
      await assert.rejects(
        journal.appendEntry(entry(2, 1)),
        (e) => e instanceof LeaseholdError && e.code === 'EIO' && e.path === journal.path && /ENOSPC/.test(e.message),
      );
      // Once a write failed the journal stays failed (its owner steps down): a later group must not land
      // after the missing one, even when space is back.
      full = false;
      await assert.rejects(
        journal.appendEntry(entry(3, 1)),
        (e) => e instanceof LeaseholdError && e.code === 'EIO' && /ENOSPC/.test(e.message),
      );
      await journal.close();
      assert.deepEqual(
        recoverDir(dir).entries.map((e) => e.v),
        [1],
      );
      // The next owner starts a segment of its own and goes on from what is on disk.
      const next = await Journal.open({ dir, epoch: 2, guard: ok });
      await next.journal.appendEntry(entry(2, 2));
      await next.journal.close();
      assert.deepEqual(
        recoverDir(dir).entries.map((e) => e.v),
        [1, 2],
      );
    }));
});

describe('Journal: modes, ownership and links', () => {
  /** A data root `root` and a journal directory `root/state/app/x` below it (as the coordinator opens it). */
  async function withRoot<T>(fn: (root: string, dir: string) => Promise<T>): Promise<T> {
    const r = await tempRoot('leasehold-journal-');
    try {
      return await fn(r.dir, join(r.dir, 'state', 'app', 'x'));
    } finally {
      await r.remove();
    }
  }
  const mode = async (p: string) => (await lstat(p)).mode & 0o777;

  it('makes its directories 0700 and its files 0600 under umask 0', () =>
    withRoot((root, dir) =>
      withUmask(0, async () => {
        const a = await Journal.open({ dir, base: root, epoch: 1, guard: ok });
        await a.journal.appendEntry(entry(1, 1));
        await a.journal.compact({ version: 1, epoch: 1, stateVersion: 0, state: {}, dedup: {} });
        await a.journal.close();
        for (const d of ['state', 'state/app', 'state/app/x']) assert.equal(await mode(join(root, d)), 0o700, d);
        const files = await readdir(dir);
        assert.deepEqual(files.sort(), [seg(1), snapshotName(1)]);
        for (const f of files) assert.equal(await mode(join(dir, f)), 0o600, f);
      }),
    ));

  it('refuses a directory below the base that others may write, naming it, and creates nothing in it', () =>
    withRoot(async (root, dir) => {
      await mkdir(join(root, 'state'));
      await chmod(join(root, 'state'), 0o777);
      await assert.rejects(
        Journal.open({ dir, base: root, epoch: 1, guard: ok }),
        refused(join(root, 'state'), /writable by group or others \(mode 0777\)/),
      );
      assert.deepEqual(await readdir(join(root, 'state')), []);
      await chmod(join(root, 'state'), 0o700);
      await mkdir(join(root, 'state', 'app'));
      await chmod(join(root, 'state', 'app'), 0o770);
      await assert.rejects(Journal.open({ dir, base: root, epoch: 1, guard: ok }), refused(join(root, 'state', 'app'), /mode 0770/));
      assert.deepEqual(await readdir(join(root, 'state', 'app')), []);
    }));

  it('refuses a segment that is a symbolic link: its target is neither read nor cut', () =>
    withRoot(async (root, dir) => {
      const { journal } = await Journal.open({ dir, base: root, epoch: 1, guard: ok });
      await journal.appendEntry(entry(1, 1));
      await journal.close();
      // A torn tail in the target: following the link, recovery would truncate the target.
      const end = beginLength(1) + frame(entry(1, 1)).length;
      const fd = nodeSyncFs.openSync(journal.path, 'r+');
      nodeSyncFs.writeSync(fd, frame(entry(2, 1)), 0, 10, end);
      nodeSyncFs.closeSync(fd);
      const target = join(root, 'elsewhere.log');
      await rename(journal.path, target);
      await symlink(target, journal.path);
      const before = await readFile(target);
      await assert.rejects(Journal.open({ dir, base: root, epoch: 2, guard: ok }), refused(journal.path, /is a symbolic link/));
      assert.deepEqual(await readFile(target), before);
      assert.deepEqual((await readdir(dir)).sort(), [seg(1)], 'no part started');
    }));

  it('refuses a snapshot that is a symbolic link, and replaces (never writes through) one planted where it writes', () =>
    withRoot(async (root, dir) => {
      const a = await Journal.open({ dir, base: root, epoch: 1, guard: ok });
      await a.journal.appendEntry(entry(1, 1));
      // Planted where compact() writes: renamed over, the links are replaced and their target stays as it is.
      const target = join(root, 'elsewhere.json');
      await writeFile(target, frame({ f: 1, version: 9, epoch: 1, sv: 0, state: { planted: true }, dedup: {} }), { mode: 0o644 });
      const before = await readFile(target);
      await symlink(target, join(dir, snapshotName(1)));
      await a.journal.compact({ version: 1, epoch: 1, stateVersion: 0, state: { k: 1 }, dedup: {} });
      await a.journal.close();
      assert.ok((await lstat(join(dir, snapshotName(1)))).isFile(), 'the snapshot is a file of its own');
      assert.deepEqual(await readFile(target), before);
      assert.equal((await stat(target)).mode & 0o777, 0o644);
      // Planted where recovery reads: refused, not read (its version 9 would win over the journal's).
      await symlink(target, join(dir, 'snapshot-000000000000009.json'));
      await assert.rejects(
        Journal.open({ dir, base: root, epoch: 2, guard: ok }),
        refused(join(dir, 'snapshot-000000000000009.json'), /is a symbolic link/),
      );
      assert.deepEqual(await readFile(target), before);
    }));
});
