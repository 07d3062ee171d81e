/**
 * A Chromium session-data directory per process. Chromium keeps a profile (localStorage, IndexedDB, caches,
 * cookies) for one process at a time: a second process on the same directory is refused its locks or races
 * on files (electron#4727). Every leasehold instance is another process on one userData, so each gets its own:
 *
 *   <dataRoot>/leasehold/sessions/<pid>-<random>.json   who made it: pid, process start, host (created first, O_EXCL 0600)
 *   <dataRoot>/leasehold/sessions/<pid>-<random>/       the directory given to app.setPath('sessionData') (0700)
 *
 * Guarantees: the directory is new, private (private-files.ts) and this process's alone; its identity file
 * is written before it and removed after it, so a directory is never left without a record of its owner by
 * our own steps. `sweep` removes a directory (then its identity file) only when `isProcessGone` is certain
 * that its process is gone (same host, pid gone or reused).
 * Not guaranteed: removal while Chromium still holds files (Windows refuses to delete open files): what
 * is left is swept by a later start. Entries without an identity file are not ours and are left alone.
 * Nothing in a session directory survives its process: shared data belongs in leasehold's state.
 */
import * as nodeFs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CREATE, ensurePrivateDir, openPrivate, readPrivate, type PrivateFs } from '../private-files.js';
import { currentProcess, isProcessGone } from '../lease/process-identity.js';

export type SessionFs = PrivateFs &
  Pick<typeof nodeFs, 'writeSync' | 'readdirSync' | 'rmSync'> & { promises: Pick<typeof nodeFs.promises, 'rm'> };

/** Where the sessions live under a data root. */
export const SESSIONS_PATH = ['leasehold', 'sessions'] as const;
const IDENTITY_SUFFIX = '.json';

export interface SessionDir {
  readonly path: string;
  /** Removes the directory, then its identity file. Never throws: what is left is swept later. */
  remove(): void;
}

/** Makes this process's session directory under `dataRoot` (synchronously: it must be set before `ready`). */
export function createSessionDir(dataRoot: string, fs: SessionFs = nodeFs): SessionDir {
  const base = ensurePrivateDir(fs, dataRoot, SESSIONS_PATH);
  const me = currentProcess();
  const name = `${me.pid}-${randomBytes(4).toString('hex')}`;
  const identity = join(base, name + IDENTITY_SUFFIX);
  const fd = openPrivate(fs, identity, CREATE);
  try {
    fs.writeSync(fd, JSON.stringify({ pid: me.pid, processStart: me.start, host: me.host }));
  } finally {
    fs.closeSync(fd);
  }
  const path = ensurePrivateDir(fs, base, [name]);
  return { path, remove: () => removeSession(fs, base, name) };
}

function removeSession(fs: SessionFs, base: string, name: string): void {
  try {
    fs.rmSync(join(base, name), { recursive: true, force: true, maxRetries: 2 });
    fs.rmSync(join(base, name + IDENTITY_SUFFIX), { force: true });
  } catch {
    // Chromium still holds a file (Windows), or the disk refused: the next start's sweep retries.
  }
}

/**
 * Removes the session directories whose process is certainly gone, except `keep`. Resolves with their paths.
 * Never rejects (an unreadable entry is left for a later sweep). The removal is asynchronous: a Chromium
 * cache can hold thousands of files, and this runs in the main process, which must keep serving windows.
 */
export async function sweepSessionDirs(dataRoot: string, keep: string | undefined, fs: SessionFs = nodeFs): Promise<string[]> {
  const base = join(dataRoot, ...SESSIONS_PATH);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return removed;
  }
  for (const file of names) {
    if (!file.endsWith(IDENTITY_SUFFIX)) continue;
    const name = file.slice(0, -IDENTITY_SUFFIX.length);
    const dir = join(base, name);
    if (dir === keep) continue;
    let owner: { pid?: unknown; processStart?: unknown; host?: unknown };
    try {
      owner = JSON.parse(readPrivate(fs, join(base, file), 'utf8')) as typeof owner;
    } catch {
      continue; // being written right now, or damaged: not certain, so not ours to remove
    }
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') continue;
    const processStart = typeof owner.processStart === 'string' ? owner.processStart : null;
    if (!isProcessGone({ pid: owner.pid, processStart, host: owner.host })) continue;
    try {
      await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 2 });
      await fs.promises.rm(join(base, file), { force: true });
      removed.push(dir);
    } catch {
      // Chromium still holds a file (Windows), or the disk refused: the next start's sweep retries.
    }
  }
  return removed;
}
