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
 * Why in place: replacing a file by rename makes ext4 (auto_da_alloc, the default) start writing the new
 * file's data back inside rename(), many times the cost of one pwrite, and every renewal runs on the
 * owner's event loop. A pwrite from a process that crashes lands whole or not at all; a reader racing it
 * could in principle see a mix of two records, which then fails to parse: it reads again (twice at
 * most), and a mix that persisted would only count as corrupt (held for a ttl).
 * Not guaranteed: correctness on network file systems (mkdir and O_EXCL atomicity, mtime precision); that
 * a crash takeover is fast when the holder runs on another host or in another pid namespace (it then
 * waits for the ttl); durability of the record across power loss (the directory is not fsynced).
 */
import * as nodeFs from 'node:fs';
import { join, resolve } from 'node:path';
import { lockfile } from '../cjs.js';
import { keepProcessAlive, sleep, systemClock, type Clock } from '../clock.js';
import { LeaseholdError, ioError } from '../errors.js';
import { createFile, errnoCode as code, padNumber, replaceFile, writeAll } from '../fs-util.js';
import { DIR_MODE, UPDATE, ensurePrivateDir, isPrivateFile, openPrivate, readPrivate } from '../private-files.js';
import { LeaseKey } from './key.js';
import { currentProcess, isProcessGone } from './process-identity.js';
import { parseClaim, parseRecord, serializeClaim, serializeRecord, type LeaseRecord, type NewestClaim } from './record.js';
import type { HolderProcess } from './assess.js';
import { RecordLeaseStore, type ReadResult, type RecordStorage, type Transaction } from './record-store.js';

/**
 * The part of `node:fs` the store uses, proper-lockfile's calls and the change notifications included;
 * inject another for fault tests.
 */
export type LeaseFs = Pick<
  typeof nodeFs,
  | 'mkdirSync'
  | 'readFileSync'
  | 'openSync'
  | 'writeSync'
  | 'fdatasyncSync'
  | 'fstatSync'
  | 'closeSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'readdirSync'
  | 'statSync'
  | 'lstatSync'
  | 'chmodSync'
  | 'accessSync'
  | 'rmSync'
  | 'rmdirSync'
  | 'utimesSync'
  | 'watch'
>;

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

const RECORD = 'record.json';
/** The record's size on disk: one block, padded with spaces (JSON allows them); larger records are not padded. */
const RECORD_BLOCK = 4096;
const EPOCHS = 'epochs';
const KEEP_EPOCHS = 16;
const pad = (n: number) => padNumber(n, 15);

export class FileStorage implements RecordStorage {
  readonly root: string;
  readonly #dataRoot: string;
  readonly #fs: LeaseFs;
  readonly #lockFs: ReturnType<typeof lockFs>;
  readonly #clock: Clock;
  readonly #create: boolean;
  readonly #staleMs: number;
  readonly #lockWaitMs: number;
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
    this.#lockFs = lockFs(this.#fs);
    this.#clock = options.clock ?? systemClock;
    this.#create = options.createDataRoot ?? true;
    this.#staleMs = Math.max(2000, options.lockStaleMs ?? 2000);
    this.#lockWaitMs = options.lockWaitMs ?? 500;
    if (!(this.#lockWaitMs >= 0))
      throw new LeaseholdError('EINVALIDCONFIG', `lockWaitMs must be ≥ 0, got ${options.lockWaitMs}`, { field: 'lockWaitMs' });
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
    const path = this.recordPath(key);
    let text: string | undefined;
    let record: LeaseRecord | undefined;
    let error: LeaseholdError | undefined;
    // A block that does not parse may be a read that raced an in-place write: read again, twice at most.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        text = readPrivate(this.#fs, path, 'utf8');
      } catch (err) {
        if (code(err) !== 'ENOENT' && code(err) !== 'ENOTDIR') throw ioError('read', path, err);
        text = undefined;
        break;
      }
      try {
        record = parseRecord(text, path);
        error = undefined;
        break;
      } catch (err) {
        error = err as LeaseholdError;
        if (text.length !== RECORD_BLOCK) break;
      }
    }
    // After the record: a claim made after our record read is then seen too (never the reverse).
    const newest = this.#newestClaim(join(this.dirOf(key), EPOCHS));
    if (text === undefined) return { newest };
    if (record) return { record, newest };
    return { corrupt: { text, error: error! }, newest };
  }

  #newestClaim(dir: string): NewestClaim {
    let names: string[];
    try {
      names = this.#fs.readdirSync(dir);
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return { epoch: 0 };
      throw ioError('list', dir, err);
    }
    let epoch = 0;
    for (const n of names) if (/^\d+$/.test(n)) epoch = Math.max(epoch, Number(n));
    if (epoch === 0) return { epoch };
    const path = join(dir, pad(epoch));
    try {
      return { epoch, claim: parseClaim(readPrivate(this.#fs, path, 'utf8')) };
    } catch (err) {
      if (code(err) === 'ENOENT') return { epoch }; // pruned meanwhile: unknown claimer
      throw ioError('read', path, err);
    }
  }

  /**
   * Overwrites an existing one-block record with `block` in one pwrite; false (nothing written) when there
   * is no such file (missing, or of another size: damaged or larger) or it is not one to write into (not
   * private: another mode or owner, a second hard link). A symbolic link is refused (EIO).
   */
  #writeInPlace(path: string, block: Buffer, durable: boolean): boolean {
    const fs = this.#fs;
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

  #write(key: LeaseKey, record: LeaseRecord, durable: boolean): void {
    const path = this.recordPath(key);
    const text = serializeRecord(record);
    const padded = Buffer.byteLength(text) <= RECORD_BLOCK ? Buffer.alloc(RECORD_BLOCK, ' ') : undefined;
    if (padded) {
      padded.write(text);
      padded[RECORD_BLOCK - 1] = 0x0a;
      if (this.#writeInPlace(path, padded, durable)) return;
    }
    replaceFile(this.#fs, path, padded ?? text, { durable });
  }

  #lock(key: LeaseKey, onCompromised: () => void, breakDead = true): (() => void) | 'busy' {
    const recordPath = this.recordPath(key);
    const holderPath = `${recordPath}.lock-holder`;
    let release: () => void;
    try {
      release = lockfile.lockSync(recordPath, {
        fs: this.#lockFs,
        realpath: false,
        stale: this.#staleMs,
        update: Math.floor(this.#staleMs / 2),
        // Never throw from here (proper-lockfile's default does, crashing the process): mark the transaction.
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
            this.#fs.rmSync(`${recordPath}.lock`, { recursive: true, force: true });
          } catch {
            return 'busy';
          }
          return this.#lock(key, onCompromised, false);
        }
        return 'busy';
      }
      if (code(err) === 'ENOENT' && this.#made.delete(this.dirOf(key))) {
        this.#ensureDir(key); // the key's directory was removed: recreate it and try once more
        return this.#lock(key, onCompromised, breakDead);
      }
      throw ioError('lock', recordPath, err);
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
      // advisory only: without it a crashed holder's lock goes stale after lockStaleMs
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

  async withMutex<T>(key: LeaseKey, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const dir = this.#ensureDir(key);
    const epochs = join(dir, EPOCHS);
    let compromised = false;
    const started = this.#clock.now();
    let release: (() => void) | 'busy';
    // Others hold the mutex for one synchronous transaction: retry soon, with jitter, for lockWaitMs.
    for (let attempt = 0; (release = this.#lock(key, () => (compromised = true))) === 'busy'; attempt++) {
      if (this.#clock.now() - started >= this.#lockWaitMs)
        throw new LeaseholdError(
          'ETIMEOUT',
          `the lock ${this.recordPath(key)}.lock stayed busy; another process is contending for ${key}`,
          {
            path: `${this.recordPath(key)}.lock`,
          },
        );
      // The caller awaits this operation: keep the process alive meanwhile (clock timers do not).
      const letExit = keepProcessAlive();
      try {
        await sleep(this.#clock, Math.ceil(Math.min(15, 1.3 ** attempt) * (0.5 + Math.random() / 2)));
      } finally {
        letExit();
      }
    }
    // A transaction runs synchronously, so proper-lockfile's compromise timer cannot fire inside one: a
    // process stopped mid-transaction (SIGSTOP, a laptop lid) resumes and finishes it before any timer
    // runs, even if others broke its mutex as stale meanwhile. So the transaction's own duration decides:
    // one that took half the staleness or more may have lost the mutex, and counts as compromised.
    const lockedAt = this.#clock.now();
    const tx: Transaction = {
      read: async () => this.#read(key),
      write: async (record, durable) => this.#write(key, record, durable === true),
      claimEpoch: async (epoch, claim) => {
        const path = join(epochs, pad(epoch));
        try {
          createFile(this.#fs, path, serializeClaim(claim), false);
        } catch (err) {
          if (code(err) === 'EEXIST') return false;
          throw ioError('claim epoch at', path, err);
        }
        this.#pruneEpochs(epochs, epoch - KEEP_EPOCHS);
        return true;
      },
      // Temp + rename: readers see the old claim or the new one, and the name never stops existing (so no
      // contender can claim this epoch meanwhile). The temp name is not a number: readers skip it.
      rewriteClaim: async (epoch, claim) =>
        replaceFile(this.#fs, join(epochs, pad(epoch)), serializeClaim(claim), { what: 'rewrite the claim of epoch at' }),
      compromised: () => compromised || this.#clock.now() - lockedAt >= this.#staleMs / 2,
    };
    try {
      return await fn(tx);
    } finally {
      try {
        release();
      } catch {
        // compromised (already released) or removed by a stale-lock breaker
      }
    }
  }

  /** Keeps the directory small; the newest claims are what fencing needs. */
  #pruneEpochs(dir: string, below: number): void {
    if (below <= 0) return;
    try {
      for (const n of this.#fs.readdirSync(dir))
        if (/^\d+$/.test(n) && Number(n) < below)
          try {
            this.#fs.unlinkSync(join(dir, n));
          } catch {
            // best effort
          }
    } catch {
      // best effort
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
    super(storage, { clock: options.clock ?? systemClock, pollIntervalMs: options.pollIntervalMs ?? 50 });
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
