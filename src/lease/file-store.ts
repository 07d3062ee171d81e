/**
 * FileLeaseStore: leases in a data root on the local disk. The default store.
 *
 * Layout, per key (`/app/notes/owner` → `<dataRoot>/leasehold/leases/app/notes/owner/`):
 *
 *   record.json        the lease record: written to a temp file (0600), fsynced, renamed over
 *   record.json.lock/  proper-lockfile's lock directory: the mutex held for one read-modify-write
 *   epochs/<n>         one file per claimed epoch, created exclusively (O_EXCL): the fencing counter
 *
 * Guarantees: everything in the {@link LeaseStore} contract; files are 0600 in 0700 directories (POSIX);
 * epochs survive deletion or corruption of record.json (not deletion of the whole key directory);
 * the lock's `onCompromised` never throws: a compromise ends the operation (and a held lease) cleanly.
 * Not guaranteed: correctness on network file systems (mkdir and O_EXCL atomicity, mtime precision); that
 * a crash takeover is fast when the holder runs on another host or in another pid namespace (it then
 * waits for the ttl); durability of the record across power loss (the directory is not fsynced).
 */
import * as nodeFs from 'node:fs/promises';
import { watch as fsWatch, constants as fsConstants } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { lockfile } from '../cjs.js';
import { systemClock, type Clock } from '../clock.js';
import { LeaseholdError, ioError } from '../errors.js';
import { LeaseKey } from './key.js';
import { isProcessGone } from './process-identity.js';
import { parseRecord, serializeRecord, type LeaseRecord } from './record.js';
import { RecordLeaseStore, type ReadResult, type RecordStorage, type Transaction } from './record-store.js';

/** The part of `node:fs/promises` the store uses; inject another for fault tests. */
export type LeaseFs = Pick<typeof nodeFs, 'mkdir' | 'readFile' | 'open' | 'rename' | 'unlink' | 'readdir' | 'stat' | 'chmod' | 'access'>;

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
   * mutex is held for about a millisecond, so only a process stopped inside that millisecond hits it.
   * @default 2000
   */
  lockStaleMs?: number;
  /** Injected file system (tests). @default node:fs/promises */
  fs?: LeaseFs;
}

const RECORD = 'record.json';
const EPOCHS = 'epochs';
const KEEP_EPOCHS = 16;
const pad = (n: number) => String(n).padStart(15, '0');

export class FileStorage implements RecordStorage {
  readonly root: string;
  readonly #dataRoot: string;
  readonly #fs: LeaseFs;
  readonly #create: boolean;
  readonly #staleMs: number;
  #ready: Promise<void> | undefined;
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
    this.#staleMs = Math.max(2000, options.lockStaleMs ?? 2000);
  }

  /** Checks the data root once: exists (or is created), is a directory, is writable; leasehold/ is 0700. */
  ready(): Promise<void> {
    this.#ready ??= this.#prepare();
    return this.#ready;
  }

  async #prepare(): Promise<void> {
    const fs = this.#fs;
    const dr = this.#dataRoot;
    let st;
    try {
      st = await fs.stat(dr);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !this.#create)
        throw (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new LeaseholdError('EIO', `data root ${dr} does not exist; create it or pass createDataRoot: true`, { path: dr, cause: err })
          : ioError('read the data root', dr, err);
      try {
        await fs.mkdir(dr, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw ioError('create the data root', dr, e);
      }
      st = await fs.stat(dr);
    }
    if (!st.isDirectory()) throw new LeaseholdError('EIO', `data root ${dr} is not a directory`, { path: dr });
    try {
      await fs.access(dr, fsConstants.W_OK | fsConstants.X_OK);
    } catch (err) {
      throw ioError('write in the data root', dr, err);
    }
    try {
      await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
      const rst = await fs.stat(this.root);
      if (process.platform !== 'win32') {
        if (typeof process.getuid === 'function' && rst.uid !== process.getuid())
          throw new LeaseholdError('EIO', `${this.root} belongs to another user (uid ${rst.uid}); leasehold will not use it`, {
            path: this.root,
          });
        if ((rst.mode & 0o077) !== 0) await fs.chmod(this.root, 0o700);
      }
    } catch (err) {
      if (err instanceof LeaseholdError) throw err;
      throw ioError('prepare', this.root, err);
    }
  }

  dirOf(key: LeaseKey): string {
    return join(this.root, 'leases', ...key.pathSegments());
  }
  recordPath(key: LeaseKey): string {
    return join(this.dirOf(key), RECORD);
  }

  async #ensureDir(key: LeaseKey): Promise<string> {
    await this.ready();
    const dir = this.dirOf(key);
    if (this.#made.has(dir)) return dir;
    try {
      await this.#fs.mkdir(join(dir, EPOCHS), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw ioError('create', dir, err);
    }
    this.#made.add(dir);
    return dir;
  }

  async read(key: LeaseKey): Promise<ReadResult> {
    await this.ready();
    const path = this.recordPath(key);
    let text: string;
    try {
      text = await this.#fs.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return {};
      throw ioError('read', path, err);
    }
    try {
      return { record: parseRecord(text, path) };
    } catch (err) {
      return { corrupt: { text, error: err as LeaseholdError } };
    }
  }

  async #write(key: LeaseKey, record: LeaseRecord, durable: boolean): Promise<void> {
    const path = this.recordPath(key);
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fs = this.#fs;
    try {
      const fh = await fs.open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(serializeRecord(record));
        if (durable) await fh.datasync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, path);
    } catch (err) {
      await fs.unlink(tmp).catch(() => undefined);
      throw ioError('write', path, err);
    }
  }

  async withMutex<T>(key: LeaseKey, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const dir = await this.#ensureDir(key);
    const recordPath = join(dir, RECORD);
    const epochs = join(dir, EPOCHS);
    let compromised = false;
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(recordPath, {
        realpath: false,
        stale: this.#staleMs,
        update: Math.floor(this.#staleMs / 2),
        // Contenders hold the mutex for about a millisecond: retry fast, with jitter, for about half a second.
        retries: { retries: 60, factor: 1.2, minTimeout: 1, maxTimeout: 15, randomize: true },
        // Never throw from here (proper-lockfile's default does, crashing the process): mark the transaction.
        onCompromised: () => {
          compromised = true;
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && this.#made.delete(dir)) return this.withMutex(key, fn); // directory removed: recreate
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED')
        throw new LeaseholdError('ETIMEOUT', `the lock ${recordPath}.lock stayed busy; another process is contending for ${key}`, {
          path: `${recordPath}.lock`,
          cause: err,
        });
      throw ioError('lock', recordPath, err);
    }
    const fs = this.#fs;
    const tx: Transaction = {
      read: () => this.read(key),
      write: (record, durable) => this.#write(key, record, durable === true),
      claimEpoch: async (epoch, instanceId) => {
        const path = join(epochs, pad(epoch));
        try {
          const fh = await fs.open(path, 'wx', 0o600);
          try {
            await fh.writeFile(instanceId);
          } finally {
            await fh.close();
          }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw ioError('claim epoch at', path, err);
        }
        // Keep the directory small; the newest claims are what fencing needs.
        void this.#pruneEpochs(epochs, epoch - KEEP_EPOCHS);
        return true;
      },
      epochClaimedBy: async (epoch) => {
        try {
          return await fs.readFile(join(epochs, pad(epoch)), 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw ioError('read', join(epochs, pad(epoch)), err);
        }
      },
      highestEpoch: async () => {
        let names: string[];
        try {
          names = await fs.readdir(epochs);
        } catch (err) {
          throw ioError('list', epochs, err);
        }
        let max = 0;
        for (const n of names) if (/^\d+$/.test(n)) max = Math.max(max, Number(n));
        return max;
      },
      compromised: () => compromised,
    };
    try {
      return await fn(tx);
    } finally {
      await release().catch(() => undefined);
    }
  }

  async #pruneEpochs(dir: string, below: number): Promise<void> {
    if (below <= 0) return;
    try {
      for (const n of await this.#fs.readdir(dir))
        if (/^\d+$/.test(n) && Number(n) < below) await this.#fs.unlink(join(dir, n)).catch(() => undefined);
    } catch {
      // best effort
    }
  }

  async keys(): Promise<LeaseKey[]> {
    await this.ready();
    const out: LeaseKey[] = [];
    const walk = async (dir: string, segments: string[]): Promise<void> => {
      let entries;
      try {
        entries = await this.#fs.readdir(dir, { withFileTypes: true });
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
        } else if (e.isDirectory() && e.name !== EPOCHS && !e.name.endsWith('.lock')) await walk(join(dir, e.name), [...segments, e.name]);
      }
    };
    await walk(join(this.root, 'leases'), []);
    return out;
  }

  isProcessGone(record: LeaseRecord): boolean {
    return isProcessGone(record);
  }

  watch(key: LeaseKey, onChange: () => void): () => void {
    try {
      const w = fsWatch(this.dirOf(key), { persistent: false }, (_event, name) => {
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
  open(): Promise<void> {
    return this.#files.ready();
  }
}
