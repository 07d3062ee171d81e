/**
 * FileLeaseStore: leases in a data root on the local disk. The default store.
 *
 * Layout, per key (`/app/notes/owner` → `<dataRoot>/leasehold/leases/app/notes/owner/`):
 *
 *   record.json        the lease record, padded with spaces to one 4 KiB block: rewritten in place (one
 *                      pwrite of the whole block), or created by temp file (0600) + rename
 *   record.json.lock/  proper-lockfile's lock directory: the mutex held for one read-modify-write
 *   record.json.lock-holder  who holds the mutex (pid, start, host): a dead holder's lock is broken at once
 *   epochs/<n>         one file per claimed epoch, created exclusively (O_EXCL): the fencing counter,
 *                      naming the claimer's instance, process and ttl (JSON), and how often its holder
 *                      repaired a damaged record (rewritten by temp + rename before each repair)
 *
 * Guarantees: everything in the {@link LeaseStore} contract; files are 0600 in 0700 directories (POSIX,
 * whatever the umask; proper-lockfile's directory included), checked as private-files.ts says: leasehold/
 * once per store and every directory from leases/ down to epochs/ once per key; a symbolic link, a
 * directory of another user or one others may write is refused with EIO naming it, and no epoch is
 * claimed; no file is read or written through a link (a planted holder file is replaced); a record that
 * others may read or that has a second hard link is replaced by rename, not rewritten in place;
 * epochs survive deletion or corruption of record.json (not deletion of the whole key directory);
 * the lock's `onCompromised` never throws: a compromise ends the operation (and a held lease) cleanly.
 * Every transaction runs its file operations synchronously, in one go on the caller's thread (small reads
 * and writes to the page cache; an acquisition adds one fdatasync). This keeps a transaction short under
 * load (it never waits for a turn of the event loop or for libuv's thread pool, where journal I/O may
 * queue), so renewals stay punctual and a handover is not held up by the disk queue. Only waiting for a
 * busy mutex is asynchronous.
 * The parts: file-mutex.ts (the mutex and its holder file), record-file.ts (the record, and why it is
 * rewritten in place), epoch-claims.ts (the claims); this module lays them out per key and composes them
 * into the transactions record-store.ts runs.
 * Not guaranteed: correctness on network file systems (mkdir and O_EXCL atomicity, mtime precision); that
 * a crash takeover is fast when the holder runs on another host or in another pid namespace (it then
 * waits for the ttl); durability of the record across power loss (the directory is not fsynced).
 */
import * as nodeFs from 'node:fs';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { LeaseholdError, ioError } from '../errors.js';
import { errnoCode as code } from '../fs-util.js';
import { DIR_MODE, ensurePrivateDir } from '../private-files.js';
import { LeaseKey } from './key.js';
import { isProcessGone } from './process-identity.js';
import type { HolderProcess } from './assess.js';
import { RecordLeaseStore } from './record-store.js';
import type { ReadResult, RecordStorage, Transaction } from './record-storage.js';
import { FileMutex, LOCK_STALE_MIN_MS, LOCK_WAIT_MS } from './file-mutex.js';
import { readRecordFile, writeRecordFile } from './record-file.js';
import { claimEpoch, newestClaim, rewriteClaim } from './epoch-claims.js';
import type { LeaseFs } from './lease-fs.js';

export type { LeaseFs } from './lease-fs.js';

/** How often waiters re-read the record and check the holder's process, by default. */
export const POLL_INTERVAL_MS = 50;

export interface FileLeaseStoreOptions {
  /** The directory leasehold keeps its files under (in `<dataRoot>/leasehold`). Required. */
  dataRoot: string;
  clock?: Clock;
  /** Create `dataRoot` (mode 0700) if it does not exist. @default true */
  createDataRoot?: boolean;
  /** How often waiters re-read the record and check the holder's process. @default 50 */
  pollIntervalMs?: number;
  /**
   * How long the mutex may be held before others break it. proper-lockfile clamps this to ≥ 2000 ms; the
   * mutex is held for one synchronous read-modify-write, so only a process stopped inside it hits this.
   * @default 2000
   */
  lockStaleMs?: number;
  /** How long to wait for a busy mutex before reporting ECONFLICT. @default 500 */
  lockWaitMs?: number;
  /** Injected file system (tests). @default node:fs */
  fs?: LeaseFs;
}

const RECORD = 'record.json';
const EPOCHS = 'epochs';

export class FileStorage implements RecordStorage {
  readonly root: string;
  readonly #dataRoot: string;
  readonly #fs: LeaseFs;
  readonly #mutex: FileMutex;
  readonly #create: boolean;
  #ready = false;
  /** Key directories known to exist (a deleted one is recreated after the ENOENT it causes). */
  readonly #made = new Set<string>();

  constructor(options: FileLeaseStoreOptions) {
    if (typeof options.dataRoot !== 'string' || options.dataRoot.length === 0)
      throw new LeaseholdError('EINVALIDCONFIG', 'dataRoot is required: the directory where leasehold keeps its lease files', {
        field: 'dataRoot',
      });
    this.#dataRoot = resolve(options.dataRoot);
    this.root = join(this.#dataRoot, 'leasehold');
    this.#fs = options.fs ?? nodeFs;
    this.#create = options.createDataRoot ?? true;
    this.#mutex = new FileMutex({
      fs: this.#fs,
      clock: options.clock ?? systemClock,
      staleMs: options.lockStaleMs ?? LOCK_STALE_MIN_MS,
      lockWaitMs: options.lockWaitMs ?? LOCK_WAIT_MS,
    });
  }

  /**
   * Checks the data root once: exists (or is created), is a directory, is writable; leasehold/ is a
   * private directory (0700, ours, not a link: see private-files.ts).
   */
  ready(): void {
    if (this.#ready) return;
    const fs = this.#fs;
    const dr = this.#dataRoot;
    let st;
    try {
      st = fs.statSync(dr);
    } catch (err) {
      if (code(err) !== 'ENOENT' || !this.#create)
        throw code(err) === 'ENOENT'
          ? new LeaseholdError('EIO', `data root ${dr} does not exist; create it or pass createDataRoot: true`, { path: dr, cause: err })
          : ioError('read the data root', dr, err);
      try {
        fs.mkdirSync(dr, { recursive: true, mode: DIR_MODE });
      } catch (e) {
        throw ioError('create the data root', dr, e);
      }
      st = fs.statSync(dr);
    }
    if (!st.isDirectory()) throw new LeaseholdError('EIO', `data root ${dr} is not a directory`, { path: dr });
    try {
      fs.accessSync(dr, nodeFs.constants.W_OK | nodeFs.constants.X_OK);
    } catch (err) {
      throw ioError('write in the data root', dr, err);
    }
    ensurePrivateDir(fs, dr, ['leasehold']);
    this.#ready = true;
  }

  dirOf(key: LeaseKey): string {
    return join(this.root, 'leases', ...key.pathSegments());
  }
  recordPath(key: LeaseKey): string {
    return join(this.dirOf(key), RECORD);
  }

  #ensureDir(key: LeaseKey): string {
    this.ready();
    const dir = this.dirOf(key);
    if (this.#made.has(dir)) return dir;
    // Every directory from leases/ down to epochs/, checked once per key (not at every renewal).
    ensurePrivateDir(this.#fs, this.root, ['leases', ...key.pathSegments(), EPOCHS]);
    this.#made.add(dir);
    return dir;
  }

  async read(key: LeaseKey): Promise<ReadResult> {
    return this.#read(key);
  }

  #read(key: LeaseKey): ReadResult {
    this.ready();
    const read = readRecordFile(this.#fs, this.recordPath(key));
    // After the record: a claim made after our record read is then seen too (never the reverse).
    const newest = newestClaim(this.#fs, join(this.dirOf(key), EPOCHS));
    if (read.text === undefined) return { newest };
    if (read.record) return { record: read.record, newest };
    return { corrupt: { text: read.text, error: read.error }, newest };
  }

  async withMutex<T>(key: LeaseKey, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const dir = this.#ensureDir(key);
    const epochs = join(dir, EPOCHS);
    const path = this.recordPath(key);
    const hold = await this.#mutex.acquire(path, String(key), () => {
      if (!this.#made.delete(dir)) return false;
      this.#ensureDir(key); // the key's directory was removed: recreate it
      return true;
    });
    const tx: Transaction = {
      read: async () => this.#read(key),
      write: async (record, durable) => writeRecordFile(this.#fs, path, record, durable === true),
      claimEpoch: async (epoch, claim) => claimEpoch(this.#fs, epochs, epoch, claim),
      rewriteClaim: async (epoch, claim) => rewriteClaim(this.#fs, epochs, epoch, claim),
      compromised: () => hold.compromised(),
    };
    try {
      return await fn(tx);
    } finally {
      hold.release();
    }
  }

  async keys(): Promise<LeaseKey[]> {
    this.ready();
    const out: LeaseKey[] = [];
    const walk = (dir: string, segments: string[]): void => {
      let entries;
      try {
        entries = this.#fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isFile() && e.name === RECORD && segments.length > 0) {
          try {
            out.push(LeaseKey.parse('/' + segments.join('/')));
          } catch {
            // a directory that is not a key: ignore
          }
        } else if (e.isDirectory() && e.name !== EPOCHS && !e.name.endsWith('.lock')) walk(join(dir, e.name), [...segments, e.name]);
      }
    };
    walk(join(this.root, 'leases'), []);
    return out;
  }

  isProcessGone(holder: HolderProcess): boolean {
    return isProcessGone(holder);
  }

  watch(key: LeaseKey, onChange: () => void): () => void {
    try {
      const w = this.#fs.watch(this.dirOf(key), { persistent: false }, (_event, name) => {
        if (name === null || name === RECORD) onChange();
      });
      w.on('error', () => undefined);
      return () => w.close();
    } catch {
      return () => undefined; // the directory does not exist yet: polling covers it
    }
  }

  async close(): Promise<void> {}
}

export class FileLeaseStore extends RecordLeaseStore {
  readonly #files: FileStorage;

  constructor(options: FileLeaseStoreOptions) {
    const storage = new FileStorage(options);
    super(storage, { clock: options.clock ?? systemClock, pollIntervalMs: options.pollIntervalMs ?? POLL_INTERVAL_MS });
    this.#files = storage;
  }

  /** `<dataRoot>/leasehold`. */
  get root(): string {
    return this.#files.root;
  }

  /** Where the record of `key` lives. */
  recordPath(key: LeaseKey | string): string {
    return this.#files.recordPath(LeaseKey.from(key));
  }

  /** Checks the data root now instead of at first use. */
  async open(): Promise<void> {
    this.#files.ready();
  }
}
