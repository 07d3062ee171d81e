/**
 * The lease record on disk: `record.json`, padded with spaces to one 4 KiB block, rewritten in place (one
 * pwrite of the whole block), or created by temp file (0600) + rename.
 *
 * Guarantees: no read or write through a symbolic link (one is refused with EIO); a record that others
 * may read, that has a second hard link, or whose size is not one block (damaged, or a record larger
 * than a block) is replaced by rename, never written into; a block that does not parse is read again
 * (twice at most) before it counts as corrupt.
 * Why in place: replacing a file by rename makes ext4 (auto_da_alloc, the default) start writing the new
 * file's data back inside rename(), many times the cost of one pwrite, and every renewal runs on the
 * owner's event loop. A pwrite from a process that crashes lands whole or not at all; a reader racing it
 * could in principle see a mix of two records, which then fails to parse: it reads again, and a mix that
 * persisted would only count as corrupt (held for a ttl).
 * Not guaranteed: durability across power loss unless `durable` (then one fdatasync; the directory is not
 * fsynced).
 */
import { ioError, type LeaseholdError } from '../errors.js';
import { errnoCode as code, replaceFile, writeAll } from '../fs-util.js';
import { UPDATE, isPrivateFile, openPrivate, readPrivate } from '../private-files.js';
import { parseRecord, serializeRecord, type LeaseRecord } from './record.js';
import type { LeaseFs } from './lease-fs.js';

/** The record's size on disk: one block, padded with spaces (JSON allows them); larger records are not padded. */
export const RECORD_BLOCK = 4096;
/** A block that does not parse is read this many times in all before it counts as corrupt. */
const READ_ATTEMPTS = 3;

/** What is at a record's path: nothing, a record, or text that is not one. */
export type RecordRead =
  | { text: undefined; record?: undefined }
  | { text: string; record: LeaseRecord }
  | { text: string; record?: undefined; error: LeaseholdError };

export function readRecordFile(fs: LeaseFs, path: string): RecordRead {
  let text: string | undefined;
  let error: LeaseholdError | undefined;
  // A block that does not parse may be a read that raced an in-place write: read again, twice at most.
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    try {
      text = readPrivate(fs, path, 'utf8');
    } catch (err) {
      if (code(err) !== 'ENOENT' && code(err) !== 'ENOTDIR') throw ioError('read', path, err);
      return { text: undefined };
    }
    try {
      return { text, record: parseRecord(text, path) };
    } catch (err) {
      error = err as LeaseholdError;
      if (text.length !== RECORD_BLOCK) break;
    }
  }
  return { text: text!, error: error! };
}

export function writeRecordFile(fs: LeaseFs, path: string, record: LeaseRecord, durable: boolean): void {
  const text = serializeRecord(record);
  const padded = Buffer.byteLength(text) <= RECORD_BLOCK ? Buffer.alloc(RECORD_BLOCK, ' ') : undefined;
  if (padded) {
    padded.write(text);
    padded[RECORD_BLOCK - 1] = 0x0a;
    if (writeInPlace(fs, path, padded, durable)) return;
  }
  replaceFile(fs, path, padded ?? text, { durable });
}

/**
 * Overwrites an existing one-block record with `block` in one pwrite; false (nothing written) when there
 * is no such file (missing, or of another size: damaged or larger) or it is not one to write into (not
 * private: another mode or owner, a second hard link). A symbolic link is refused (EIO).
 */
function writeInPlace(fs: LeaseFs, path: string, block: Buffer, durable: boolean): boolean {
  let fd: number;
  try {
    fd = openPrivate(fs, path, UPDATE);
  } catch (err) {
    if (code(err) === 'ENOENT') return false;
    throw ioError('write', path, err);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.size !== RECORD_BLOCK || !isPrivateFile(st)) return false;
    writeAll(fs, fd, block, 0);
    if (durable) fs.fdatasyncSync(fd);
    return true;
  } catch (err) {
    throw ioError('write', path, err);
  } finally {
    fs.closeSync(fd);
  }
}
