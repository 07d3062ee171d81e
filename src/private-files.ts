/**
 * Private files: how leasehold creates, checks and opens everything it keeps under its data root (the
 * lease store, the journal, the ipc socket directory), so that no other user can read or plant anything
 * there and nothing is ever written through a symbolic link.
 *
 * Guarantees (POSIX):
 *  1. Directories: each directory below a trusted base is created with mode 0700 and, the first time it is
 *     used, checked with lstat: a symbolic link, a non-directory, a directory owned by another uid, or one
 *     that group or others may write is refused with EIO naming the path and what is wrong; any other mode
 *     (readable by others, or narrowed by the umask) is set to exactly 0700. The check runs top-down, so
 *     once a parent is known to be ours and closed, nobody else can swap a child between its check and
 *     its use.
 *  2. Files are opened with O_NOFOLLOW (and O_CLOEXEC, which libuv adds to every open): a symbolic link at
 *     the path is refused with EIO ("is a symbolic link"), for reading as for writing. New files are
 *     created with O_CREAT | O_EXCL and mode 0600: never through a link, never an existing file; the umask
 *     can only clear bits, so a new file is never more open than 0600. A file to rewrite in place is
 *     judged on the fstat of the descriptor just opened (no extra lookup): it must be a regular file of
 *     ours, 0600 or narrower, with one link, or the caller replaces it (temp file + rename, which replaces
 *     whatever the name held, a link included, and writes nothing through it).
 * Not guaranteed: a directory's check is not repeated on every use (that would cost one lstat per
 * directory per lease renewal); a process running as the same user (or root) can still change a checked
 * directory afterwards, and may do anything to these files anyway. The trusted base (the data root, or
 * the temp dir for long socket paths) is the caller's: it is created if missing but not checked here. On
 * Windows nothing is checked beyond what the file system itself refuses.
 */
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { LeaseholdError, ioError } from './errors.js';

/** The part of `node:fs` these helpers use; the lease store's and the journal's injected fs include it. */
export type PrivateFs = Pick<typeof nodeFs, 'mkdirSync' | 'lstatSync' | 'chmodSync' | 'openSync' | 'closeSync' | 'readFileSync'>;

/** Every directory leasehold makes. */
export const DIR_MODE = 0o700;
/** Every file leasehold makes. */
export const FILE_MODE = 0o600;

const POSIX = process.platform !== 'win32';
const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL } = nodeFs.constants;
// Undefined on Windows, where creating a symbolic link needs a privilege of its own.
const O_NOFOLLOW = nodeFs.constants.O_NOFOLLOW ?? 0;

/** Open flags: read, read and write in place, write (truncate), create exclusively. None follows a link. */
export const READ = O_RDONLY | O_NOFOLLOW;
export const UPDATE = O_RDWR | O_NOFOLLOW;
export const WRITE = O_WRONLY | O_NOFOLLOW;
export const CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

const myUid = (): number | undefined => (POSIX && typeof process.getuid === 'function' ? process.getuid() : undefined);
const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code;
const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

function refuse(path: string, what: string): LeaseholdError {
  return new LeaseholdError('EIO', `${path} ${what}; leasehold will not use it`, { path });
}

/** What is wrong with a directory leasehold should own (undefined: nothing). */
function dirProblem(st: nodeFs.Stats): string | undefined {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return 'is not a directory';
  const uid = myUid();
  if (uid === undefined) return undefined;
  if (st.uid !== uid) return `is owned by uid ${st.uid}, not ${uid} (this process)`;
  if ((st.mode & 0o022) !== 0) return `is writable by group or others (mode ${octal(st.mode)})`;
  return undefined;
}

/**
 * Creates (mode 0700) and checks each directory `base/segments[0]/…/segments[n-1]`, top-down, as in 1.
 * `base` is created if missing (with its parents) but not checked: the caller trusts it. Returns the
 * deepest path. Throws EIO naming the first directory that is refused or cannot be made.
 */
export function ensurePrivateDir(fs: PrivateFs, base: string, segments: readonly string[]): string {
  let path = base;
  try {
    fs.mkdirSync(base, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw ioError('create', base, err);
  }
  for (const segment of segments) {
    path = join(path, segment);
    // Usually there already: one lstat. Missing: mkdir, then the same check (made by us, or by a racer).
    let st = lstatOrUndefined(fs, path);
    if (st === undefined) {
      try {
        fs.mkdirSync(path, DIR_MODE);
      } catch (err) {
        if (code(err) !== 'EEXIST') throw ioError('create', path, err);
      }
      try {
        st = fs.lstatSync(path);
      } catch (err) {
        throw ioError('check', path, err);
      }
    }
    const problem = dirProblem(st);
    if (problem) throw refuse(path, problem);
    // chmod follows links, but this one was just seen to be a directory, in a parent only we can change.
    if (POSIX && (st.mode & 0o777) !== DIR_MODE)
      try {
        fs.chmodSync(path, DIR_MODE);
      } catch (err) {
        throw ioError('set the mode of', path, err);
      }
  }
  return path;
}

function lstatOrUndefined(fs: PrivateFs, path: string): nodeFs.Stats | undefined {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw ioError('check', path, err);
  }
}

/**
 * Opens `path` with `flags` (one of the constants above; CREATE makes it 0600). A symbolic link at `path`
 * is EIO; any other failure is the fs error itself (ENOENT, EEXIST: callers act on those).
 */
export function openPrivate(fs: PrivateFs, path: string, flags: number): number {
  try {
    return fs.openSync(path, flags, FILE_MODE);
  } catch (err) {
    // O_NOFOLLOW's refusal: ELOOP on Linux and macOS, EMLINK on FreeBSD.
    if (code(err) === 'ELOOP' || code(err) === 'EMLINK') {
      let link = false;
      try {
        link = fs.lstatSync(path).isSymbolicLink();
      } catch {
        // gone meanwhile: report the open's own error
      }
      if (link) throw refuse(path, 'is a symbolic link');
    }
    throw err;
  }
}

/** The content of `path`, read without following a link (as {@link openPrivate}). */
export function readPrivate(fs: PrivateFs, path: string): Buffer;
export function readPrivate(fs: PrivateFs, path: string, encoding: 'utf8'): string;
export function readPrivate(fs: PrivateFs, path: string, encoding?: 'utf8'): Buffer | string {
  const fd = openPrivate(fs, path, READ);
  try {
    return encoding ? fs.readFileSync(fd, encoding) : fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * True when an open file may be rewritten in place (2): a regular file of ours, 0600 or narrower, with one
 * link. Anything else is to be replaced, not written to.
 */
export function isPrivateFile(st: nodeFs.Stats): boolean {
  if (!st.isFile() || st.nlink !== 1) return false;
  const uid = myUid();
  return uid === undefined || (st.uid === uid && (st.mode & 0o077) === 0);
}
