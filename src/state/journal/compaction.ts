/**
 * Writing a snapshot, off the owner's critical path: the state is serialized a slice at a time
 * (json-slices.ts) and written a chunk at a time, so heartbeats and acks keep flowing while a large state
 * is written.
 *
 * Its syncs run on the loop, as a durable group's do: in the thread pool they ran beside the owner's
 * stream of group commits and waited behind them, 30–900 ms (p50 ≈ 100 ms) for a 700-byte snapshot under
 * eight pipelining followers, against 4–5 ms p50 (at worst ≈ 30 ms, the time a group's own sync blocks the
 * loop) on the loop, with the commits waiting that long. A snapshot larger than SNAPSHOT_SYNC_IN_POOL_BYTES
 * is flushed in the pool first, so that the loop's sync has only what remains.
 *
 * Its share of the loop: a slice lasts SNAPSHOT_SLICE_MS, or, when the loop is busy, a third of the time
 * the loop spent on other work before it came back (up to SNAPSHOT_SLICE_MAX_MS): a snapshot gets about a
 * quarter of a saturated loop, so that it is written in a time bound by its own cost, not by the load (the
 * journal keeps every entry that arrives meanwhile on disk). As it falls behind (the caller's `behind()`:
 * the entries written meanwhile against the snapshot interval) the share grows to four times the other
 * work (four fifths of the loop): writers slow down rather than the journal grow. Chunks are written
 * while the next ones are serialized (one write in flight); a chunk of at most 64 KiB is written on the
 * loop (to the page cache, microseconds), since in the pool it would queue behind the journal's syncs.
 *
 * Steps:
 *  1. `snapshot-<version>.json.<random>.tmp` is created (O_EXCL, 0600); the record's payload is written
 *     after room for its header, a chunk at a time, with a running checksum; then the header; fdatasync
 *     (a large snapshot: in the pool, then on the loop).
 *  2. The lease check; rename to `snapshot-<version>.json`; fsync of the directory, on the loop (so that the
 *     files the snapshot covers are deleted only once the snapshot's name is durable).
 * A crash at any step leaves at most a temp file (deleted by the next compaction) and the previous
 * snapshot, still the newest. A deposed owner that renames late can only add a snapshot of a version its
 * successor recovered (it committed nothing past the fence, by the lease check after every sync), and
 * never replaces a newer one: snapshots are named by version and recovery takes the newest.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { LeaseholdError, ioError } from '../../errors.js';
import { nextTurn, type Clock } from '../../clock.js';
import { CREATE, openPrivate } from '../../private-files.js';
import { HEADER } from './frames.js';
import { FORMAT, snapshotName, type Snapshot } from './layout.js';
import { closeQuietly, syncDirectory, writeAll } from '../../fs-util.js';
import { pool, writeAllInPool, type JournalFs } from './fs.js';
import { serializeInSlices } from './json-slices.js';

/** Serialization hands back the loop after this much work at least… */
export const SNAPSHOT_SLICE_MS = 4;
/** …or after this share of the time the loop spent elsewhere before it came back (1/3: a quarter of the loop)… */
const SNAPSHOT_SLICE_SHARE = 1 / 3;
/** …growing to this share (4: four fifths of the loop) as the snapshot falls behind the entries. */
const SNAPSHOT_SLICE_SHARE_BEHIND = 4;
/** …but never holds it longer than this (a lease renewal or a heartbeat waits at most this long for it). */
export const SNAPSHOT_SLICE_MAX_MS = 50;
/** The text is written in chunks of about this many characters… */
export const SNAPSHOT_CHUNK_CHARS = 1 << 20;
/** A chunk of at most this many bytes is written on the loop (to the page cache: microseconds). */
const SNAPSHOT_CHUNK_ON_LOOP_BYTES = 64 * 1024;
/** …and the serializer hands it over (and the slice's time is checked) every this many. */
const SNAPSHOT_PIECE_CHARS = 32 * 1024;
/** A snapshot larger than this is flushed in the pool before its sync on the loop (which then has little left). */
export const SNAPSHOT_SYNC_IN_POOL_BYTES = 1024 * 1024;

/** Temp files of snapshots being written. */
export const SNAPSHOT_TEMP = /^snapshot-\d{15}\.json\.[0-9a-f]+\.tmp$/;

export async function writeSnapshot(o: {
  dir: string;
  fs: JournalFs;
  clock: Clock;
  guard: () => void;
  snapshot: Snapshot;
  /** How far behind the snapshot is (0: not; 1: as far as allowed): its share of the loop grows with it. */
  behind?: () => number;
}): Promise<{ name: string; bytes: number }> {
  const { fs, snapshot } = o;
  let bytes = 0;
  const name = snapshotName(snapshot.version);
  const path = join(o.dir, name);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    // 1.
    fd = openPrivate(fs, tmp, CREATE);
    const out = sliced(fs, fd, o.clock, o.behind ?? (() => 0));
    out.text(
      `{"f":${FORMAT},"version":${snapshot.version},"epoch":${snapshot.epoch},"sv":${snapshot.stateVersion},` +
        `${snapshot.at !== undefined ? `"at":${JSON.stringify(snapshot.at)},` : ''}"dedup":${JSON.stringify(snapshot.dedup)},"state":`,
    );
    // The serializer never yields on its own: the sink does, on the budget above.
    await serializeInSlices(snapshot.state, out.sink, { clock: o.clock, sliceMs: Infinity, chunkChars: SNAPSHOT_PIECE_CHARS });
    out.text('}');
    const { length, sum } = await out.end();
    bytes = HEADER + length;
    const header = Buffer.alloc(HEADER);
    header.writeUInt32LE(length, 0);
    header.writeUInt32LE(sum, 4);
    writeAll(fs, fd, header, 0); // 8 bytes to the page cache: not worth a turn
    if (bytes > SNAPSHOT_SYNC_IN_POOL_BYTES) await pool.fdatasync(fs, fd);
    fs.fdatasyncSync(fd);
    // A close after the sync has nothing to write.
    fs.closeSync(fd);
    fd = undefined;
    // 2.
    o.guard();
    fs.renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fs, fd);
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not created
    }
    if (err instanceof LeaseholdError) throw err;
    throw ioError('write the snapshot', path, err);
  }
  try {
    syncDirectory(fs, o.dir);
  } catch (err) {
    throw ioError('sync', o.dir, err);
  }
  return { name, bytes };
}

/**
 * The record's payload, written after room for its header: text is collected and written a chunk at a
 * time (one write in flight), with a running checksum; `sink` hands the loop back when the slice is over.
 */
function sliced(fs: JournalFs, fd: number, clock: Clock, behind: () => number) {
  let parts: string[] = [];
  let chars = 0;
  let position = HEADER;
  let sum = 0;
  let writing: Promise<void> = Promise.resolve();
  let sliceStart = clock.now();
  let budget = SNAPSHOT_SLICE_MS;
  const flush = async () => {
    const buf = Buffer.from(parts.join(''), 'utf8');
    parts = [];
    chars = 0;
    sum = crc32(buf, sum);
    await writing;
    // A small chunk goes to the page cache at once: in the pool it would queue behind the journal's syncs.
    writing =
      buf.length <= SNAPSHOT_CHUNK_ON_LOOP_BYTES ? Promise.resolve(writeAll(fs, fd, buf, position)) : writeAllInPool(fs, fd, buf, position);
    writing.catch(() => undefined); // settled by the next flush or end(), which await it
    position += buf.length;
  };
  const text = (t: string) => {
    parts.push(t);
    chars += t.length;
  };
  return {
    text,
    async sink(t: string): Promise<void> {
      text(t);
      if (chars >= SNAPSHOT_CHUNK_CHARS) await flush();
      if (clock.now() - sliceStart < budget) return;
      const before = clock.now();
      await nextTurn();
      sliceStart = clock.now();
      const share = SNAPSHOT_SLICE_SHARE + (SNAPSHOT_SLICE_SHARE_BEHIND - SNAPSHOT_SLICE_SHARE) * Math.min(1, Math.max(0, behind()));
      budget = Math.min(SNAPSHOT_SLICE_MAX_MS, Math.max(SNAPSHOT_SLICE_MS, (sliceStart - before) * share));
    },
    async end(): Promise<{ length: number; sum: number }> {
      if (chars > 0) await flush();
      await writing;
      return { length: position - HEADER, sum };
    },
  };
}

/** Deletes files in the pool; best effort (recovery never reads what a newer snapshot covers). */
export async function deleteFiles(fs: JournalFs, dir: string, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((n) => pool.unlink(fs, join(dir, n)).catch(() => undefined)));
}
