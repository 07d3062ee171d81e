/**
 * The part of `node:fs` the journal uses; inject another for fault tests. Synchronous calls run on the
 * owner's loop (appends and the syncs someone waits for, recovery, a part's creation, a snapshot's syncs);
 * the callback ones in libuv's thread pool (syncs nobody waits for, a large snapshot's chunks and first
 * flush, deletions).
 */
import type * as nodeFs from 'node:fs';
import { READ, openPrivate } from '../../private-files.js';
import { closeQuietly } from '../../fs-util.js';

export type JournalFs = Pick<
  typeof nodeFs,
  | 'mkdirSync'
  | 'readFileSync'
  | 'openSync'
  | 'readSync'
  | 'fstatSync'
  | 'writeSync'
  | 'fdatasyncSync'
  | 'fsyncSync'
  | 'ftruncateSync'
  | 'closeSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'readdirSync'
  | 'lstatSync'
  | 'chmodSync'
  | 'write'
  | 'fdatasync'
  | 'fsync'
  | 'ftruncate'
  | 'close'
  | 'unlink'
>;

/** The callback calls of {@link JournalFs}, as promises. */
export const pool = {
  write: (fs: JournalFs, fd: number, buf: Buffer, position: number): Promise<number> =>
    new Promise((resolve, reject) => fs.write(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n)))),
  fdatasync: (fs: JournalFs, fd: number): Promise<void> =>
    new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
  fsync: (fs: JournalFs, fd: number): Promise<void> =>
    new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve()))),
  ftruncate: (fs: JournalFs, fd: number, length: number): Promise<void> =>
    new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve()))),
  close: (fs: JournalFs, fd: number): Promise<void> => new Promise((resolve) => fs.close(fd, () => resolve())),
  unlink: (fs: JournalFs, path: string): Promise<void> =>
    new Promise((resolve, reject) => fs.unlink(path, (err) => (err ? reject(err) : resolve()))),
};

/** Writes all of `buf` at `position`, in the thread pool. */
export async function writeAllInPool(fs: JournalFs, fd: number, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length;) off += await pool.write(fs, fd, off === 0 ? buf : buf.subarray(off), position + off);
}

/** fsync of a directory in the thread pool (closed on the loop: nothing to write, and no turn spent). */
export async function syncDirInPool(fs: JournalFs, dir: string): Promise<void> {
  const fd = openPrivate(fs, dir, READ);
  try {
    await pool.fsync(fs, fd);
  } finally {
    closeQuietly(fs, fd);
  }
}
