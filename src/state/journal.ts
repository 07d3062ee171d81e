/**
 * The owner's journal: every mutation is appended and flushed before it is acknowledged.
 *
 * On disk, per key, in `<dataRoot>/leasehold/state/<key>/`:
 *
 *   snapshot-0…0042.json        one framed record {version, epoch, state, dedup} (temp + fsync + rename)
 *   snapshot.json               the same (all that versions before snapshot-<version>.json read); recovery
 *                               takes the newest snapshot there is
 *   journal-000…0007.log        the segment written by the owner of epoch 7
 *
 * Files are 0600 in 0700 directories, checked and opened as private-files.ts says: every directory below
 * `base` once per open; no file read, cut or written through a symbolic link (one is refused with EIO).
 *
 *   record frame:  ┌──────────────┬──────────────┬──────────────────────────┐
 *                  │ u32 LE length│ u32 LE crc32 │ payload: length bytes JSON│
 *                  └──────────────┴──────────────┴──────────────────────────┘
 *   first record of a segment:  {"t":"begin","e":7,"prev":{"epoch":6,"length":4096}|null}
 *   then entries:               {"t":"m","v":42,"e":7,"id":["instanceId",3],"m":{…}}
 *
 * Segments are preallocated: the file is extended with written zeros ahead of the records (64 KiB at
 * first, then doubling up to 4 MiB a step), so that an append overwrites blocks that already exist and its
 * fdatasync has no metadata (file size, block allocation) to commit: ≈ the cost of a raw in-place fdatasync
 * instead of ≈ twice that for a true append. A zero header (length 0, which no record has) followed only by
 * zeros marks the end of the records.
 *
 * Guarantees:
 *  1. Group commit: appends that arrive in one turn of the event loop, or while a flush is running, share
 *     the next single write + fdatasync. The write is synchronous (to the page cache). A group that
 *     someone waits for (a durable mutation) is synced on the loop: the fastest answer for its waiters. A
 *     group of only non-durable entries (already acknowledged) is synced on libuv's thread pool, so the
 *     owner's loop keeps reading, applying and acknowledging meanwhile. (The lease's transactions are
 *     synchronous, so they never queue behind a journal sync in the pool.)
 *     `append()` resolves only after its flush, and only if the owner's guard (the lease check) passes both
 *     before the write and after the fsync: an owner that lost its lease meanwhile acknowledges nothing.
 *  2. Fencing: a new owner records in its segment's begin record how long the previous segment was when it
 *     took over. Recovery reads each older segment only up to that length, so appends by a deposed owner
 *     after the takeover are never recovered (and were never acknowledged, by 1).
 *     A new owner deletes the segments that hold no entries (owners that served nothing), except one
 *     whose begin record fences a segment with entries: every takeover would otherwise leave a file that
 *     every later recovery reads.
 *  3. Every record is checksummed. A torn tail of the newest segment (a crash mid-write: a bad frame
 *     followed by nothing but zeros) is cut on open; a bad record followed by data stops recovery with
 *     ECORRUPT naming the file and offset, and nothing is modified.
 * Opening (recovery, the begin record, the first preallocation) is synchronous, so a new owner's start-up
 * spends no event-loop turns while other processes compete for the CPU during a failover; only the
 * segment's first sync runs in the thread pool (every group commit syncs the file again before anything
 * is acknowledged, so the begin record's fence is durable before anything depends on it).
 * Not guaranteed: durability when the disk lies about fdatasync; after a power loss (not a process crash),
 * a disk that persisted a later page of one group commit but not an earlier one shows as ECORRUPT rather
 * than as a torn tail; the current segment is not rotated by compaction (older segments are deleted;
 * entries already in the snapshot are skipped on recovery).
 */
import * as nodeFs from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { LeaseholdError, ioError } from '../errors.js';
import { nextTurn, systemClock, type Clock, type Timer } from '../clock.js';
import type { Json } from './document.js';
import { CREATE, WRITE, ensurePrivateDir, openPrivate, readPrivate } from '../private-files.js';

export interface Entry {
  t: 'm';
  /** The version this entry produces. */
  v: number;
  /** The epoch of the owner that wrote it. */
  e: number;
  /** (instanceId, sequence) of the sender, for exactly-once; null for the owner's own unsequenced writes. */
  id: [string, number] | null;
  /** The mutation (or dispatched action) as applied. */
  m: Json;
}

export interface Snapshot {
  version: number;
  epoch: number;
  state: Json;
  /** Per sender: which sequence numbers were applied, and its latest applied version (state/dedup.ts). */
  dedup: Record<string, { seq: number; v: number; from?: number; below?: readonly number[] }>;
}

export interface Recovered {
  snapshot: Snapshot | undefined;
  /** Entries after the snapshot, in order, versions continuous. */
  entries: Entry[];
  /** A torn tail that was cut from the newest segment. */
  cut?: { path: string; offset: number; bytes: number };
}

/** The synchronous part of `node:fs` the journal uses; inject another for fault tests. */
export type JournalFs = Pick<
  typeof nodeFs,
  | 'mkdirSync'
  | 'readFileSync'
  | 'openSync'
  | 'writeSync'
  | 'fdatasyncSync'
  | 'fdatasync'
  | 'ftruncateSync'
  | 'closeSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'readdirSync'
  | 'lstatSync'
  | 'chmodSync'
>;

const HEADER = 8;
/** Zeros written ahead of the records when a segment starts, and the largest extension at a time. */
const PREALLOC_FIRST = 64 * 1024;
const PREALLOC_MAX_STEP = 4 * 1024 * 1024;
/**
 * A group this large is flushed at once, inside the turn that filled it: under a flood of mutations a turn
 * can read megabytes from many sockets, and followers must not wait for all of it to see an ack or change
 * (they would take a busy owner for a hung one).
 */
const GROUP_MAX_ENTRIES = 1000;
/** A segment's file name (its epoch) and a snapshot's (its version), in the state directory. */
export const SEGMENT = /^journal-(\d{15})\.log$/;
export const NAMED_SNAPSHOT = /^snapshot-(\d{15})\.json$/;
const pad = (n: number) => String(n).padStart(15, '0');

export function frame(payload: unknown): Buffer {
  return frameJson(JSON.stringify(payload));
}

/** A frame around JSON text already serialized. */
export function frameJson(json: string): Buffer {
  const len = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(HEADER + len);
  buf.write(json, HEADER, 'utf8');
  buf.writeUInt32LE(len, 0);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4);
  return buf;
}

type Parsed = {
  records: { offset: number; value: Record<string, unknown> }[];
  /** Where the records end: the first bad frame, the preallocated zeros, or `limit`. */
  goodLength: number;
  /** The first bad frame; `end` is where it claims to end (a torn write always reaches the end of the file). */
  bad?: { offset: number; why: string; end: number };
};

/** Reads framed records up to `limit` bytes; stops at the first bad or incomplete frame. */
export function parseFrames(buf: Buffer, limit = buf.length): Parsed {
  const records: Parsed['records'] = [];
  let off = 0;
  while (off < limit) {
    if (off + HEADER > limit) return { records, goodLength: off, bad: { offset: off, why: 'incomplete header', end: limit } };
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    // No record is empty: a zero length is the start of the preallocated zeros, if only zeros follow.
    if (len === 0 && sum === 0 && allZero(buf, off, limit)) return { records, goodLength: off };
    const end = off + HEADER + len;
    if (end > limit) return { records, goodLength: off, bad: { offset: off, why: 'incomplete record', end: limit } };
    const body = buf.subarray(off + HEADER, end);
    if (crc32(body) !== sum) return { records, goodLength: off, bad: { offset: off, why: 'checksum mismatch', end } };
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return { records, goodLength: off, bad: { offset: off, why: notJson(body, err, off + HEADER), end } };
    }
    if (typeof value !== 'object' || value === null) return { records, goodLength: off, bad: { offset: off, why: 'not an object', end } };
    records.push({ offset: off, value: value as Record<string, unknown> });
    off = end;
  }
  return { records, goodLength: off };
}

/** True when buf[from, to) holds only zero bytes. */
export function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let off = from; off < to; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - off);
    if (buf.compare(ZEROS, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}
const ZEROS = Buffer.alloc(PREALLOC_FIRST);

/**
 * What is wrong with a payload that does not parse, naming the file offset of the bad byte when the parser
 * says where it is (its position counts UTF-16 units of the text; the offset counts bytes of the file).
 */
function notJson(body: Buffer, err: unknown, payloadOffset: number): string {
  const at = /at position (\d+)/.exec(String((err as Error)?.message))?.[1];
  if (at === undefined) return 'not JSON';
  const text = body.toString('utf8');
  return `not JSON: bad byte at offset ${payloadOffset + Buffer.byteLength(text.slice(0, Number(at)))}`;
}

/** ECORRUPT naming the file and the byte offset of the damage, as message and as fields (`path`, `offset`). */
function corrupt(path: string, offset: number, why: string, what = 'journal file'): LeaseholdError {
  return new LeaseholdError('ECORRUPT', `${what} ${path} is damaged at offset ${offset} (${why}); it was left as it is for inspection`, {
    path,
    offset,
  });
}

export interface JournalOptions {
  dir: string;
  /**
   * A directory above `dir` that is already trusted (leasehold's root): every directory below it down to
   * `dir` is created 0700 and checked (ours, not writable by group or others, not a link) before use.
   * @default the parent of `dir`
   */
  base?: string;
  /** The epoch this owner holds. */
  epoch: number;
  /** Throws when this process may no longer write as owner (the lease check). */
  guard: () => void;
  /** @default node:fs */
  fs?: JournalFs;
  /**
   * A group of only non-durable entries (already acknowledged) waits this long for more before its sync;
   * a durable append, or close(), flushes it at once. It bounds how late such an entry is committed (and
   * broadcast), and lets one sync serve a stream of non-durable mutations. @default 2
   */
  lazyFlushMs?: number;
  /** @default systemClock */
  clock?: Clock;
}

type Queued = { buf: Buffer; durable: boolean; resolve: () => void; reject: (e: unknown) => void };

export class Journal {
  readonly path: string;
  readonly epoch: number;
  readonly #dir: string;
  readonly #fs: JournalFs;
  readonly #guard: () => void;
  readonly #fd: number;
  /** Where the next record goes (the end of the records). */
  #size: number;
  /** The file's length: zeros from #size up to here. */
  #allocated: number;
  #queue: Queued[] = [];
  /** The first sync of the segment (begin record and preallocation), in the pool: close() waits for it. */
  #opening: Promise<void> = Promise.resolve();
  /** The running flush loop; cleared in the same tick the queue is found empty, so no append is stranded. */
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly #lazyFlushMs: number;
  readonly #clock: Clock;
  /** Ends the wait of a lazy (non-durable) group: set while one waits. */
  #wake: (() => void) | undefined;
  /** A group's fdatasync runs in the thread pool: nothing else may be written and resolved meanwhile. */
  #syncing = false;
  /** Set by the first failed write or sync: every later append fails with it. */
  #broken: LeaseholdError | undefined;
  /** Flushes done (each one write + one fdatasync) and entries written; for benchmarks and tests. */
  readonly stats = { flushes: 0, entries: 0 };

  private constructor(o: JournalOptions, fs: JournalFs, path: string, fd: number, size: number, allocated: number) {
    this.#dir = o.dir;
    this.epoch = o.epoch;
    this.#guard = o.guard;
    this.#fs = fs;
    this.path = path;
    this.#fd = fd;
    this.#size = size;
    this.#allocated = allocated;
    this.#lazyFlushMs = o.lazyFlushMs ?? 2;
    this.#clock = o.clock ?? systemClock;
  }

  /**
   * Recovers what is on disk (cutting a torn tail of the newest segment) and starts this epoch's segment.
   * Throws ECORRUPT (nothing modified) when a damaged record is found anywhere but a newest segment's tail.
   */
  static async open(options: JournalOptions): Promise<{ journal: Journal; recovered: Recovered }> {
    const fs = options.fs ?? nodeFs;
    prepareJournalDir(options.dir, options.base, fs);
    const { recovered, last, newestEpoch, empty } = recoverSync(options.dir, fs, true);
    if (newestEpoch >= options.epoch)
      throw new LeaseholdError(
        'ELOST',
        `journal in ${options.dir} already has a segment of epoch ${newestEpoch} ≥ ${options.epoch}: a newer owner wrote here`,
        {
          reason: 'superseded',
          path: options.dir,
        },
      );
    options.guard();
    const path = join(options.dir, `journal-${pad(options.epoch)}.log`);
    let fd: number | undefined;
    try {
      // O_EXCL: one segment per epoch, and epochs are unique (the lease's fencing token).
      fd = openPrivate(fs, path, CREATE);
      const begin = frame({ t: 'begin', e: options.epoch, prev: last ? { epoch: last.epoch, length: last.length } : null });
      // The begin record and the first preallocated zeros, in one write. Their sync runs in the thread pool,
      // off the takeover's path: nothing this owner acknowledges or broadcasts can precede a sync of this
      // file (every group commit syncs it, begin record included), so the fence is on disk before anything
      // depends on it. (It costs ≈ 1 ms on the loop here: the file's size and blocks are new metadata.)
      const first = Buffer.alloc(Math.max(PREALLOC_FIRST, begin.length + HEADER));
      begin.copy(first);
      writeAll(fs, fd, first, 0);
      const opening = fdatasync(fs, fd).catch(() => undefined); // a failing disk fails the first group's own sync
      // The previous segment is fenced at `last.length` now: drop its preallocated zeros, so that old
      // segments take no more room than their records and recovery reads no zeros. (A deposed owner that
      // still appends there lands past the fence either way.) Best effort: recovery ignores them anyway.
      // Segments with no entries are deleted: they hold nothing to recover, and every takeover would
      // otherwise leave one more file for every later recovery to read (an app that rarely mutates, after a
      // thousand takeovers, read a thousand files). A deposed owner of one of them that still appends
      // writes to a deleted file, which nothing ever reads. Both after this turn, so that the new owner
      // serves first (a truncation is metadata: ≈ 0.4 ms here).
      if ((last && last.size > last.length) || empty.length > 0)
        void nextTurn().then(() => {
          for (const p of empty)
            try {
              fs.unlinkSync(p);
            } catch {
              // kept: recovery skips it
            }
          if (last && last.size > last.length && !empty.includes(last.path))
            try {
              truncate(fs, last.path, last.length);
            } catch {
              // kept as it is
            }
        });
      const journal = new Journal(options, fs, path, fd, begin.length, first.length);
      journal.#opening = opening;
      return { journal, recovered };
    } catch (err) {
      if (fd !== undefined) {
        closeQuietly(fs, fd);
        // Ours, and holding no begin record that was synced: nothing can depend on it.
        try {
          fs.unlinkSync(path);
        } catch {
          // recovery treats an empty segment as empty anyway
        }
      }
      if (err instanceof LeaseholdError) throw err;
      throw ioError('start the journal segment', path, err);
    }
  }

  /**
   * Appends one entry (or its JSON text, serialized by the caller); resolves once it is on disk and this
   * owner still holds its lease. `waited: false` says that nobody waits for this entry's flush to answer
   * someone (a non-durable mutation, already acknowledged): a group of only such entries is synced off
   * the event loop.
   */
  append(entry: Entry | string, waited = true): Promise<void> {
    if (this.#closed) return Promise.reject(new LeaseholdError('ECLOSED', 'the journal is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ buf: typeof entry === 'string' ? frameJson(entry) : frame(entry), durable: waited, resolve, reject });
      if (!this.#flushing) this.#flushing = this.#flush();
      else if (waited) this.#wake?.();
      if (this.#queue.length >= GROUP_MAX_ENTRIES && !this.#syncing) this.#commitSync(this.#queue.splice(0));
    });
  }

  async #flush(): Promise<void> {
    // Wait for the rest of this event-loop turn, so that appends from every socket read in it (and made in
    // the same tick) join the first batch; #flushing is assigned before this loop can clear it.
    await nextTurn();
    for (;;) {
      if (this.#queue.length === 0) {
        this.#flushing = undefined;
        return;
      }
      if (this.#lazyFlushMs > 0 && !this.#closed && !this.#queue.some((b) => b.durable)) await this.#lazyWait();
      const batch = this.#queue.splice(0);
      if (batch.length === 0) continue; // flushed meanwhile by a full group
      // Someone waits on this group: sync here, on the loop. On these VMs a sync in the thread pool costs
      // ≈ 5× more (the pool thread's wake-up on the other core, then the loop's), and the loop has nothing
      // better to do for the waiters. A group nobody waits for is synced in the pool, so the loop goes on
      // reading and acknowledging non-durable mutations meanwhile.
      if (batch.some((b) => b.durable)) this.#commitSync(batch);
      else {
        this.#syncing = true;
        try {
          const written = this.#write(batch);
          if (written)
            await fdatasync(this.#fs, this.#fd).then(
              () => this.#synced(batch, written),
              (err) => this.#failed(batch, err),
            );
        } finally {
          this.#syncing = false;
        }
      }
    }
  }

  /** Writes, syncs and settles one group, on the loop. */
  #commitSync(batch: Queued[]): void {
    const written = this.#write(batch);
    if (!written) return;
    try {
      this.#fs.fdatasyncSync(this.#fd);
    } catch (err) {
      return this.#failed(batch, err);
    }
    this.#synced(batch, written);
  }

  /** Writes a group after the records (to the page cache); on failure settles it and returns 0. */
  #write(batch: Queued[]): number {
    if (this.#broken !== undefined) {
      // A group after a failed one must not land: versions would have a gap (its owner steps down).
      for (const b of batch) b.reject(this.#broken);
      return 0;
    }
    const buf = batch.length === 1 ? batch[0]!.buf : Buffer.concat(batch.map((b) => b.buf));
    try {
      this.#guard();
    } catch (err) {
      for (const b of batch) b.reject(err);
      return 0;
    }
    try {
      this.#preallocate(this.#size + buf.length);
      writeAll(this.#fs, this.#fd, buf, this.#size);
    } catch (err) {
      this.#failed(batch, err);
      return 0;
    }
    return buf.length;
  }

  #synced(batch: Queued[], bytes: number): void {
    this.#size += bytes;
    this.stats.flushes++;
    this.stats.entries += batch.length;
    try {
      this.#guard();
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    for (const b of batch) b.resolve();
  }

  /** A write or sync failed: leave no partial record behind and reject the group. */
  #failed(batch: Queued[], err: unknown): void {
    // A full disk may have taken part of it: cut back to the records; the next append preallocates again.
    try {
      this.#fs.ftruncateSync(this.#fd, this.#size);
      this.#allocated = this.#size;
    } catch {
      // recovery cuts a torn tail anyway
    }
    const e = ioError('append to the journal', this.path, err);
    this.#broken = e;
    for (const b of batch) b.reject(e);
  }

  /** Waits `lazyFlushMs`, or until a durable append or close() ends the wait. */
  #lazyWait(): Promise<void> {
    return new Promise((resolve) => {
      let timer: Timer | undefined = undefined;
      const done = () => {
        this.#wake = undefined;
        timer?.cancel();
        resolve();
      };
      this.#wake = done;
      timer = this.#clock.setTimeout(done, this.#lazyFlushMs);
    });
  }

  /**
   * Extends the file with written zeros so that it reaches past `end` (synchronous, to the page cache; the
   * flush's fdatasync persists them with the records). Steps double, from 64 KiB up to 4 MiB.
   */
  #preallocate(end: number): void {
    if (end <= this.#allocated) return;
    const step = Math.min(PREALLOC_MAX_STEP, Math.max(PREALLOC_FIRST, this.#allocated));
    const target = end + step;
    for (let off = this.#allocated; off < target;) {
      const n = Math.min(ZEROS.length, target - off);
      off += this.#fs.writeSync(this.#fd, ZEROS, 0, n, off);
      this.#allocated = off;
    }
  }

  /**
   * Writes a snapshot and deletes the older segments and snapshots it covers. It is written twice: as
   * `snapshot-<version>.json`, which recovery prefers when it is the newest (a deposed owner stopped just
   * before its rename can still rename an older snapshot in later, but never over this one), and as
   * `snapshot.json`, which is all that leasehold versions before this one read.
   */
  async compact(snapshot: Snapshot): Promise<void> {
    this.#guard();
    const fs = this.#fs;
    const data = frame(snapshot);
    for (const name of [`snapshot-${pad(snapshot.version)}.json`, 'snapshot.json']) {
      const path = join(this.#dir, name);
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const fd = openPrivate(fs, tmp, CREATE);
        try {
          writeAll(fs, fd, data, 0);
          fs.fdatasyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        this.#guard();
        fs.renameSync(tmp, path);
      } catch (err) {
        try {
          fs.unlinkSync(tmp);
        } catch {
          // not created
        }
        if (err instanceof LeaseholdError) throw err;
        throw ioError('write the snapshot', path, err);
      }
    }
    for (const name of fs.readdirSync(this.#dir)) {
      const segment = SEGMENT.exec(name);
      const older = NAMED_SNAPSHOT.exec(name);
      if ((segment && Number(segment[1]) < this.epoch) || (older && Number(older[1]) < snapshot.version))
        try {
          fs.unlinkSync(join(this.#dir, name));
        } catch {
          // best effort: recovery skips what the newest snapshot covers
        }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    await this.#flushing;
    await this.#opening;
    closeQuietly(this.#fs, this.#fd);
  }
}

/**
 * Creates `dir` and every directory between `base` and it (0700), and checks them (ours, not writable by
 * group or others, not links); EIO names the first one refused. Journal.open does this; calling it before
 * contending for the lease makes such a refusal cost no epoch.
 */
export function prepareJournalDir(dir: string, base = dirname(dir), fs: JournalFs = nodeFs): void {
  const below = relative(base, dir);
  if (below === '' || below.startsWith('..'))
    throw new LeaseholdError('EINVALIDCONFIG', `the journal's directory ${dir} is not below its base ${base}`, { field: 'base' });
  ensurePrivateDir(fs, base, below.split(sep));
}

function fdatasync(fs: JournalFs, fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

function writeAll(fs: JournalFs, fd: number, buf: Buffer, position: number): void {
  for (let off = 0; off < buf.length;) off += fs.writeSync(fd, buf, off, buf.length - off, position + off);
}

/** Cuts a file to `length` without following a link at `path`. */
function truncate(fs: JournalFs, path: string, length: number): void {
  const fd = openPrivate(fs, path, WRITE);
  try {
    fs.ftruncateSync(fd, length);
  } finally {
    fs.closeSync(fd);
  }
}

function closeQuietly(fs: JournalFs, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Reads the journal as a new owner would, changing nothing and keeping nothing: a designated successor
 * does this while it stands by, so that at the takeover the code is compiled and the files are in the page
 * cache (a cold recovery of even a tiny journal measured ≈ 2 ms of a handover here). Skipped when the files
 * add up to more than `maxBytes` (it runs on the follower's event loop). Never throws.
 */
export function prefetch(dir: string, maxBytes = 4 * 1024 * 1024): void {
  try {
    let total = 0;
    for (const name of nodeFs.readdirSync(dir))
      if (SEGMENT.test(name) || NAMED_SNAPSHOT.test(name) || name === 'snapshot.json') total += nodeFs.statSync(join(dir, name)).size;
    if (total <= maxBytes) recoverSync(dir, nodeFs, false);
  } catch {
    // nothing there yet, or damaged: the takeover reports it
  }
}

/** A snapshot file's content, or undefined when there is none; ECORRUPT (the file kept) when it is damaged. */
function readSnapshot(path: string, fs: JournalFs): Snapshot | undefined {
  let buf: Buffer;
  try {
    buf = readPrivate(fs, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('read', path, err);
  }
  const p = parseFrames(buf);
  if (p.bad) throw corrupt(path, p.bad.offset, p.bad.why, 'snapshot');
  if (p.records.length !== 1)
    throw corrupt(path, p.records[1]?.offset ?? 0, p.records.length === 0 ? 'no record' : 'more than one record', 'snapshot');
  const v = p.records[0]!.value as unknown as Snapshot;
  if (!Number.isSafeInteger(v.version)) throw corrupt(path, 0, 'not a snapshot: no integer version', 'snapshot');
  if (typeof v.dedup !== 'object' || v.dedup === null) throw corrupt(path, 0, 'not a snapshot: no dedup table', 'snapshot');
  return v;
}

/**
 * Reads the snapshot and every segment (each older one up to the length its successor recorded).
 * With `cutTornTail`, a damaged tail of the newest segment is truncated away.
 */
export async function recover(
  dir: string,
  fs: JournalFs = nodeFs,
  cutTornTail = false,
): Promise<{ recovered: Recovered; last: { epoch: number; length: number; path: string; size: number } | undefined; newestEpoch: number }> {
  return recoverSync(dir, fs, cutTornTail);
}

function recoverSync(
  dir: string,
  fs: JournalFs,
  cutTornTail: boolean,
): {
  recovered: Recovered;
  /** The newest segment with records, and how long they are: the next owner's `prev` (its fence). */
  last: { epoch: number; length: number; path: string; size: number } | undefined;
  /** The newest segment's epoch, empty or not (0: none). */
  newestEpoch: number;
  /** Segments with no entries (a begin record at most) that fence no segment with entries: deletable. */
  empty: string[];
} {
  // The newest of the snapshots: `snapshot.json` (written by every version) and `snapshot-<version>.json`.
  let snapshot: Snapshot | undefined;
  let listing: string[] | undefined;
  try {
    listing = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('list', dir, err);
  }
  for (const name of ['snapshot.json', ...(listing ?? []).filter((n) => NAMED_SNAPSHOT.test(n))]) {
    const v = readSnapshot(join(dir, name), fs);
    if (v && (!snapshot || v.version > snapshot.version)) snapshot = v;
  }
  if (listing === undefined) return { recovered: { snapshot, entries: [] }, last: undefined, newestEpoch: 0, empty: [] };
  const names = listing.filter((n) => SEGMENT.test(n)).sort();
  const segments = names.map((name) => {
    const path = join(dir, name);
    let buf: Buffer;
    try {
      buf = readPrivate(fs, path);
    } catch (err) {
      throw ioError('read', path, err);
    }
    return { epoch: Number(SEGMENT.exec(name)![1]), path, buf };
  });
  // Each segment's begin record says how long its predecessor was at the takeover.
  const limits = new Map<number, number>();
  const parsedHeads = segments.map((s) => parseFrames(s.buf, Math.min(s.buf.length, HEADER + 4096)).records[0]?.value);
  parsedHeads.forEach((head, i) => {
    const prev = (head as { prev?: { epoch: number; length: number } | null } | undefined)?.prev;
    if (prev && i > 0) limits.set(prev.epoch, prev.length);
  });
  const entries: Entry[] = [];
  let cut: Recovered['cut'];
  let version = snapshot?.version ?? 0;
  let last: { epoch: number; length: number; path: string; size: number } | undefined;
  const empty: string[] = [];
  const emptyWithBegin: { path: string; fences: number | undefined }[] = [];
  const withEntries = new Set<number>();
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const newest = i === segments.length - 1;
    const limit = limits.get(s.epoch) ?? s.buf.length;
    if (limit > s.buf.length) throw corrupt(s.path, s.buf.length, `shorter than the ${limit} bytes its successor recorded`);
    const p = parseFrames(s.buf, limit);
    if (p.bad) {
      // Torn only if it is the newest segment's last frame (nothing but preallocated zeros after it):
      // damage followed by more data is corruption.
      if (!newest || !allZero(s.buf, p.bad.end, s.buf.length)) throw corrupt(s.path, p.bad.offset, p.bad.why);
      // The newest segment's tail: its writer died mid-write, so nothing past it was acknowledged.
      cut = { path: s.path, offset: p.goodLength, bytes: s.buf.length - p.goodLength };
      if (cutTornTail)
        try {
          truncate(fs, s.path, p.goodLength);
        } catch (err) {
          throw ioError('cut the torn tail of', s.path, err);
        }
    }
    const begin = p.records[0]?.value;
    if (!begin || begin.t !== 'begin' || begin.e !== s.epoch) {
      // A segment whose owner died (or whose disk was full) before its begin record was written holds
      // nothing, so nothing in it was acknowledged. It is skipped, and it is not `last`: the next owner's
      // begin record must fence the segment before it (at the length read now), or a deposed owner's
      // later appends there would be recovered one day.
      if (p.records.length === 0 && (newest || allZero(s.buf, 0, limit))) {
        empty.push(s.path);
        continue;
      }
      throw corrupt(s.path, 0, 'no begin record');
    }
    if (p.records.length > 1) withEntries.add(s.epoch);
    else {
      // No entries: nothing to recover, but its begin record may be what fences the segment before it.
      const prev = (begin as { prev?: { epoch: number } | null }).prev;
      emptyWithBegin.push({ path: s.path, fences: prev?.epoch });
    }
    for (const r of p.records.slice(1)) {
      const e = r.value as unknown as Entry;
      if (e.t !== 'm' || !Number.isSafeInteger(e.v)) throw corrupt(s.path, r.offset, 'not an entry');
      if (e.v <= version) continue; // already in the snapshot
      if (e.v !== version + 1) throw corrupt(s.path, r.offset, `version ${e.v} follows ${version}`);
      version = e.v;
      entries.push(e);
    }
    last = { epoch: s.epoch, length: p.goodLength, path: s.path, size: s.buf.length };
  }
  // An empty segment that fences one with entries stays: without it, recovery would read that segment to
  // its end, a deposed owner's late appends included.
  for (const e of emptyWithBegin) if (e.fences === undefined || !withEntries.has(e.fences)) empty.push(e.path);
  const newestEpoch = segments.length > 0 ? segments[segments.length - 1]!.epoch : 0;
  return { recovered: { snapshot, entries, ...(cut ? { cut } : {}) }, last, newestEpoch, empty };
}
