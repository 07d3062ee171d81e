/**
 * File mechanics shared by everything leasehold writes under its data root: numbers in file names, writes
 * that loop until every byte is down, exclusive creation, and replacement by temp file + rename. Each
 * helper takes the caller's injected fs (never `node:fs` itself), so fault tests reach every call.
 *
 * Guarantees:
 *  1. `writeAll` writes every byte of the buffer at the position given, or throws the fs error.
 *  2. `createFile` makes a new file exclusively (O_EXCL, 0600, no link followed: see private-files.ts) with
 *     the whole content; `durable` flushes its data (fdatasync) before closing. It throws the fs error
 *     itself (EEXIST when the name is taken), and closes what it opened either way.
 *  3. `replaceFile` creates a temp file beside the target (same directory, a random name ending .tmp),
 *     writes it as 2 and renames it over the target, so that readers see the old content or the new one,
 *     never a mix, and the name never stops existing. On failure it removes the temp file and throws EIO
 *     naming the target. `syncDirectory` of the target's directory afterwards makes the rename durable.
 * Not guaranteed: durability unless asked for (without `durable` the data may still be in the page cache;
 * without a `syncDirectory` a crash may undo the rename); atomicity on file systems whose rename is not
 * (some network file systems).
 */
import type * as nodeFs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ioError } from './errors.js';
import { CREATE, READ, openPrivate, type PrivateFs } from './private-files.js';

/** What {@link createFile} needs of the fs. */
export type CreateFs = PrivateFs & Pick<typeof nodeFs, 'writeSync' | 'fdatasyncSync'>;
/** What {@link replaceFile} needs of the fs. */
export type ReplaceFs = CreateFs & Pick<typeof nodeFs, 'renameSync' | 'unlinkSync'>;
/** What {@link syncDirectory} needs of the fs. */
export type SyncDirFs = PrivateFs & Pick<typeof nodeFs, 'fsyncSync'>;

/** The errno code of a file-system error (undefined for anything else). */
export const errnoCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException)?.code;

/** `n` in decimal, zero-padded to `width` digits: file names that sort as their numbers do. */
export const padNumber = (n: number, width: number): string => String(n).padStart(width, '0');

/** A fresh temp name beside `path` (same directory, so a rename is atomic); ends in .tmp. */
export const tempPathFor = (path: string): string => `${path}.${randomBytes(6).toString('hex')}.tmp`;

/** Writes all of `buf` at `position`, synchronously (1). */
export function writeAll(fs: Pick<typeof nodeFs, 'writeSync'>, fd: number, buf: Buffer, position: number): void {
  for (let off = 0; off < buf.length;) off += fs.writeSync(fd, buf, off, buf.length - off, position + off);
}

/** Closes `fd`, ignoring an error (it was closed already, or the file is being abandoned anyway). */
export function closeQuietly(fs: Pick<typeof nodeFs, 'closeSync'>, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** Creates `path` exclusively with `content` (2); throws the fs error (EEXIST when taken). */
export function createFile(fs: CreateFs, path: string, content: string | Buffer, durable: boolean): void {
  const fd = openPrivate(fs, path, CREATE);
  try {
    writeAll(fs, fd, typeof content === 'string' ? Buffer.from(content) : content, 0);
    if (durable) fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ReplaceOptions {
  /** Flush the new content (fdatasync) before the rename. @default false */
  durable?: boolean;
  /** What is being done, for the EIO message: `cannot <what> <path>`. @default 'write' */
  what?: string;
}

/** Replaces the content of `path` atomically (3). */
export function replaceFile(fs: ReplaceFs, path: string, content: string | Buffer, options: ReplaceOptions = {}): void {
  const tmp = tempPathFor(path);
  try {
    createFile(fs, tmp, content, options.durable === true);
    fs.renameSync(tmp, path);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // it was not created, or is gone
    }
    throw ioError(options.what ?? 'write', path, err);
  }
}

/** fsync of a directory: the files created and renamed in it are durable. Throws the fs error. */
export function syncDirectory(fs: SyncDirFs, dir: string): void {
  const fd = openPrivate(fs, dir, READ);
  try {
    fs.fsyncSync(fd);
  } finally {
    closeQuietly(fs, fd);
  }
}
