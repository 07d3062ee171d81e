/**
 * Writing a snapshot, off the owner's critical path: the state is serialized a slice at a time
 * (json-slices.ts) and written, synced and renamed in libuv's thread pool, so heartbeats and acks keep
 * flowing while a large state is written.
 *
 * Steps:
 *  1. `snapshot-<version>.json.<random>.tmp` is created (O_EXCL, 0600); the record's payload is written
 *     after room for its header, a chunk at a time, with a running checksum; then the header; fdatasync.
 *  2. The lease check; rename to `snapshot-<version>.json`; fsync of the directory (so that the files the
 *     snapshot covers are deleted only once the snapshot's name is durable).
 * A crash at any step leaves at most a temp file (deleted by the next compaction) and the previous
 * snapshot, still the newest. A deposed owner that renames late can only add a snapshot of a version its
 * successor recovered (it committed nothing past the fence, by the lease check after every sync), and
 * never replaces a newer one: snapshots are named by version and recovery takes the newest.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { LeaseholdError, ioError } from '../../errors.js';
import type { Clock } from '../../clock.js';
import { CREATE, openPrivate } from '../../private-files.js';
import { HEADER } from './frames.js';
import { FORMAT, snapshotName, type Snapshot } from './layout.js';
import { closeQuietly, pool, syncDirInPool, writeAllInPool, type JournalFs } from './fs.js';
import { serializeInSlices } from './json-slices.js';

/** Serialization hands back the loop after this much work… */
export const SNAPSHOT_SLICE_MS = 4;
/** …and writes the text in chunks of about this many characters. */
export const SNAPSHOT_CHUNK_CHARS = 1 << 20;

/** Temp files of snapshots being written. */
export const SNAPSHOT_TEMP = /^snapshot-\d{15}\.json\.[0-9a-f]+\.tmp$/;

export async function writeSnapshot(o: {
  dir: string;
  fs: JournalFs;
  clock: Clock;
  guard: () => void;
  snapshot: Snapshot;
}): Promise<string> {
  const { fs, snapshot } = o;
  const name = snapshotName(snapshot.version);
  const path = join(o.dir, name);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    // 1.
    fd = openPrivate(fs, tmp, CREATE);
    const out = fd;
    let position = HEADER;
    let sum = 0;
    const sink = async (text: string) => {
      const buf = Buffer.from(text, 'utf8');
      sum = crc32(buf, sum);
      await writeAllInPool(fs, out, buf, position);
      position += buf.length;
    };
    await sink(`{"f":${FORMAT},"version":${snapshot.version},"epoch":${snapshot.epoch},"dedup":${JSON.stringify(snapshot.dedup)},"state":`);
    await serializeInSlices(snapshot.state, sink, { clock: o.clock, sliceMs: SNAPSHOT_SLICE_MS, chunkChars: SNAPSHOT_CHUNK_CHARS });
    await sink('}');
    const header = Buffer.alloc(HEADER);
    header.writeUInt32LE(position - HEADER, 0);
    header.writeUInt32LE(sum, 4);
    await writeAllInPool(fs, out, header, 0);
    await pool.fdatasync(fs, out);
    await pool.close(fs, out);
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
  await syncDir(fs, o.dir);
  return name;
}

/** fsync of a directory, in the pool: the renames and creations in it are durable. */
async function syncDir(fs: JournalFs, dir: string): Promise<void> {
  try {
    await syncDirInPool(fs, dir);
  } catch (err) {
    throw ioError('sync', dir, err);
  }
}

/** Deletes files in the pool; best effort (recovery never reads what a newer snapshot covers). */
export async function deleteFiles(fs: JournalFs, dir: string, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((n) => pool.unlink(fs, join(dir, n)).catch(() => undefined)));
}
