/**
 * The file lease store's mutex: proper-lockfile's lock directory `record.json.lock/` beside a record, held
 * for one read-modify-write, with `record.json.lock-holder` naming who holds it (pid, start, host) so that
 * a dead holder's lock is broken at once instead of after proper-lockfile's staleness.
 *
 * Guarantees: every file call, proper-lockfile's included, goes through the injected {@link LeaseFs}; the
 * lock directory is 0700 and the holder file 0600, never written through a link (a planted one is
 * replaced); `onCompromised` never throws (proper-lockfile's default would crash the process): a
 * compromise, or a hold that lasted half the staleness or more, marks the hold compromised, and the
 * caller ends its operation cleanly; waiting for a busy mutex ends with ETIMEOUT after `lockWaitMs`.
 * Not guaranteed: mutual exclusion. A lock broken by mistake (a live holder that has not written its
 * holder file yet, or one stopped past the staleness) lets two processes in at once; the epoch claims
 * (epoch-claims.ts), not this mutex, keep one holder per epoch.
 */
import { lockfile } from '../cjs.js';
import { keepProcessAlive, sleep, type Clock } from '../clock.js';
import { LeaseholdError, ioError } from '../errors.js';
import { createFile, errnoCode as code } from '../fs-util.js';
import { DIR_MODE, readPrivate } from '../private-files.js';
import { currentProcess, isProcessGone } from './process-identity.js';
import type { LeaseFs } from './lease-fs.js';

/** proper-lockfile's floor for its staleness, and ours by default. */
export const LOCK_STALE_MIN_MS = 2000;
/** How long to wait for a busy mutex before giving up. */
export const LOCK_WAIT_MS = 500;
/** The longest pause between two attempts at a busy mutex (the pauses grow from 1 ms, with jitter). */
const RETRY_MAX_MS = 15;

/**
 * The file operations proper-lockfile uses, from the injected fs, in an object of their own: its sync API
 * copies the object it is given at every lock, and its default (graceful-fs, ~100 properties) would make
 * that copy a noticeable part of every transaction, twice per handover on its critical path. It never
 * resolves the path (realpath: false), so it needs no realpathSync.
 */
function lockFs(fs: LeaseFs) {
  return {
    // proper-lockfile passes no mode: its directory would be 0777 minus the umask.
    mkdirSync: (path: string) => fs.mkdirSync(path, DIR_MODE),
    statSync: (path: string) => fs.statSync(path),
    rmdirSync: (path: string) => fs.rmdirSync(path),
    utimesSync: (path: string, atime: Date, mtime: Date) => fs.utimesSync(path, atime, mtime),
  };
}

export interface FileMutexOptions {
  fs: LeaseFs;
  clock: Clock;
  /** Clamped to ≥ LOCK_STALE_MIN_MS (proper-lockfile's own floor). @default LOCK_STALE_MIN_MS */
  staleMs?: number;
  /** @default LOCK_WAIT_MS */
  lockWaitMs?: number;
}

/** One hold of the mutex. */
export interface MutexHold {
  /** Lost or possibly lost the mutex: the operation must not count as done. */
  compromised(): boolean;
  /** Never throws (a compromised or broken lock is gone already). */
  release(): void;
}

export class FileMutex {
  readonly #fs: LeaseFs;
  readonly #lockFs: ReturnType<typeof lockFs>;
  readonly #clock: Clock;
  readonly staleMs: number;
  readonly #lockWaitMs: number;

  constructor(o: FileMutexOptions) {
    this.#fs = o.fs;
    this.#lockFs = lockFs(o.fs);
    this.#clock = o.clock;
    this.staleMs = Math.max(LOCK_STALE_MIN_MS, o.staleMs ?? LOCK_STALE_MIN_MS);
    this.#lockWaitMs = o.lockWaitMs ?? LOCK_WAIT_MS;
    if (!(this.#lockWaitMs >= 0))
      throw new LeaseholdError('EINVALIDCONFIG', `lockWaitMs must be ≥ 0, got ${o.lockWaitMs}`, { field: 'lockWaitMs' });
  }

  /**
   * Takes the mutex of the file at `path`, waiting up to lockWaitMs while it is busy (ETIMEOUT then names
   * `what` as what others contend for). `recreate` is called when the directory holding `path` is gone:
   * true when it made it again (then the lock is tried once more).
   */
  async acquire(path: string, what: string, recreate: () => boolean): Promise<MutexHold> {
    let compromised = false;
    const started = this.#clock.now();
    let release: (() => void) | 'busy';
    // Others hold the mutex for one synchronous transaction: retry soon, with jitter, for lockWaitMs.
    for (let attempt = 0; (release = this.#lock(path, () => (compromised = true), recreate)) === 'busy'; attempt++) {
      if (this.#clock.now() - started >= this.#lockWaitMs)
        throw new LeaseholdError('ETIMEOUT', `the lock ${path}.lock stayed busy; another process is contending for ${what}`, {
          path: `${path}.lock`,
        });
      // The caller awaits this operation: keep the process alive meanwhile (clock timers do not).
      const letExit = keepProcessAlive();
      try {
        await sleep(this.#clock, Math.ceil(Math.min(RETRY_MAX_MS, 1.3 ** attempt) * (0.5 + Math.random() / 2)));
      } finally {
        letExit();
      }
    }
    // A transaction runs synchronously, so proper-lockfile's compromise timer cannot fire inside one: a
    // process stopped mid-transaction (SIGSTOP, a laptop lid) resumes and finishes it before any timer
    // runs, even if others broke its mutex as stale meanwhile. So the hold's own duration decides: one
    // that lasted half the staleness or more may have lost the mutex, and counts as compromised.
    const lockedAt = this.#clock.now();
    const unlock = release;
    return {
      compromised: () => compromised || this.#clock.now() - lockedAt >= this.staleMs / 2,
      release: () => {
        try {
          unlock();
        } catch {
          // compromised (already released) or removed by a stale-lock breaker
        }
      },
    };
  }

  #lock(path: string, onCompromised: () => void, recreate: () => boolean, breakDead = true): (() => void) | 'busy' {
    const holderPath = `${path}.lock-holder`;
    let release: () => void;
    try {
      release = lockfile.lockSync(path, {
        fs: this.#lockFs,
        realpath: false,
        stale: this.staleMs,
        update: Math.floor(this.staleMs / 2),
        // Never throw from here (proper-lockfile's default does, crashing the process): mark the hold.
        onCompromised,
      });
    } catch (err) {
      if (code(err) === 'ELOCKED') {
        // Held by a process that is gone (killed inside a transaction)? Then break it now instead of
        // waiting for proper-lockfile's staleness (≥ 2 s). Breaking a live holder's lock by mistake (a
        // race with a new holder that has not written its holder file yet) is harmless: the epoch claims,
        // not the mutex, keep one holder per epoch.
        if (breakDead && this.#holderGone(holderPath)) {
          try {
            this.#fs.rmSync(`${path}.lock`, { recursive: true, force: true });
          } catch {
            return 'busy';
          }
          return this.#lock(path, onCompromised, recreate, false);
        }
        return 'busy';
      }
      if (code(err) === 'ENOENT' && recreate()) return this.#lock(path, onCompromised, () => false, breakDead);
      throw ioError('lock', path, err);
    }
    // Who holds the mutex, beside the lock directory (inside it, proper-lockfile's rmdir would fail).
    try {
      const me = currentProcess();
      const text = JSON.stringify({ pid: me.pid, processStart: me.start, host: me.host });
      try {
        createFile(this.#fs, holderPath, text, false);
      } catch (err) {
        if (code(err) !== 'EEXIST') throw err;
        // Left by a holder killed inside its transaction (or planted): replace the name, never write through it.
        this.#fs.unlinkSync(holderPath);
        createFile(this.#fs, holderPath, text, false);
      }
    } catch {
      // advisory only: without it a crashed holder's lock goes stale after staleMs
    }
    return () => {
      try {
        this.#fs.unlinkSync(holderPath);
      } catch {
        // gone already
      }
      release();
    };
  }

  /** True only when the holder file names a process that is certainly gone. */
  #holderGone(holderPath: string): boolean {
    try {
      const h = JSON.parse(readPrivate(this.#fs, holderPath, 'utf8')) as { pid?: unknown; processStart?: unknown; host?: unknown };
      if (!Number.isSafeInteger(h.pid) || typeof h.host !== 'string' || (h.processStart !== null && typeof h.processStart !== 'string'))
        return false;
      return isProcessGone({ pid: h.pid as number, processStart: h.processStart as string | null, host: h.host });
    } catch {
      return false;
    }
  }
}
