/**
 * The owner's writer: appends entries to its epoch's parts, group-committed, and starts a new part when
 * asked (at each snapshot), or when one grows past `partMaxEntries` or `partMaxBytes`.
 *
 * Parts are preallocated: extended with written zeros ahead of the records, so that an append overwrites
 * blocks that already exist and its fdatasync has no metadata (file size, block allocation) to commit: ≈
 * the cost of a raw in-place fdatasync instead of ≈ twice that for a true append. Zeros count as disk used:
 * a part holds at most PREALLOC_MIN_STEP or an eighth of its records of them, whichever is more, and no
 * more than 1 MiB (so extensions stay rare: a few dozen in a part's first 10 MiB).
 *
 * Guarantees:
 *  1. Group commit: appends that arrive in one turn of the event loop, or while a flush is running, share
 *     the next single write + fdatasync. The write is synchronous (to the page cache). A group that
 *     someone waits for (a durable mutation) is synced on the loop: the fastest answer for its waiters. A
 *     group of only non-durable entries (already acknowledged) is synced in libuv's thread pool, so the
 *     owner's loop keeps reading, applying and acknowledging meanwhile.
 *     `append()` resolves only after its flush, and only if the guard (the lease check) passes both before
 *     the write and after the fsync: an owner that lost its lease meanwhile acknowledges nothing.
 *  2. A new part starts only between groups, after every earlier group was synced: a part is complete
 *     before the next one has an entry, so only the newest part can end in a torn write. Its begin record
 *     goes out in the same write as the group's first entries and is synced with them.
 *  3. Once a write or sync failed, every later append fails too (versions would have a gap).
 * Not guaranteed: that a new part's directory entry is durable after a power loss (a process crash keeps
 * it); that the zeros of a finished part are dropped (best effort).
 */
import { join } from 'node:path';
import { LeaseholdError, ioError } from '../../errors.js';
import { nextTurn, type Clock, type Timer } from '../../clock.js';
import { CREATE, openPrivate } from '../../private-files.js';
import { HEADER, ZEROS, frame, frameJson } from './frames.js';
import { beginRecord, partName, type Fence } from './layout.js';
import { closeQuietly, syncDirectory, writeAll } from '../../fs-util.js';
import { pool, syncDirInPool, type JournalFs } from './fs.js';

/** Zeros written ahead of the records: when a part starts, and at least this much at each extension… */
export const PREALLOC_MIN_STEP = 16 * 1024;
/** …or this fraction of the records written, up to PREALLOC_MAX_STEP. */
const PREALLOC_FRACTION = 1 / 8;
const PREALLOC_MAX_STEP = 1024 * 1024;
/**
 * A group this large is flushed at once, inside the turn that filled it: under a flood of mutations a turn
 * can read megabytes from many sockets, and followers must not wait for all of it to see an ack or change
 * (they would take a busy owner for a hung one).
 */
const GROUP_MAX_ENTRIES = 1000;

export interface WriterOptions {
  dir: string;
  epoch: number;
  guard: () => void;
  fs: JournalFs;
  clock: Clock;
  lazyFlushMs: number;
  /** What every part's begin record names (recovery.ts). */
  fence: Fence | null;
  /** The version of the first entry this owner will append. */
  firstVersion: number;
  partMaxEntries: number;
  partMaxBytes: number;
  /** Called when a part is finished (the next one has started). */
  onFinished?: (part: OwnPart) => void;
}

/** One part of this owner's journal. */
export interface OwnPart {
  index: number;
  name: string;
  path: string;
  /** The first and last version written to it (last < first: none yet). */
  first: number;
  last: number;
}

type Open = OwnPart & { fd: number; size: number; allocated: number };
type Queued = { buf: Buffer; v: number; durable: boolean; resolve: () => void; reject: (e: unknown) => void };

export class SegmentWriter {
  readonly #o: WriterOptions;
  readonly #fs: JournalFs;
  #part: Open;
  /** Finished parts of this owner, oldest first. */
  readonly #done: OwnPart[] = [];
  #queue: Queued[] = [];
  /** The first part's first sync (begin record and preallocation), in the pool: close() waits for it. */
  readonly opening: Promise<void>;
  /** The running flush loop; cleared in the same tick the queue is found empty, so no append is stranded. */
  #flushing: Promise<void> | undefined;
  #closed = false;
  /** Ends the wait of a lazy (non-durable) group: set while one waits. */
  #wake: (() => void) | undefined;
  /** A group's fdatasync runs in the thread pool: nothing else may be written and resolved meanwhile. */
  #syncing = false;
  #rotate = false;
  /** Finished parts' zeros being dropped and their descriptors closed. */
  #retiring: Promise<void>[] = [];
  #broken: LeaseholdError | undefined;
  /** The last version written (to the page cache). */
  written: number;
  /** Flushes done (each one write + one fdatasync), entries and their bytes written; for benchmarks and tests. */
  readonly stats = { flushes: 0, entries: 0, bytes: 0, parts: 1 };

  /** Starts part 0 (synchronously: a new owner spends no event-loop turn on it); its sync runs in the pool. */
  constructor(o: WriterOptions) {
    this.#o = o;
    this.#fs = o.fs;
    this.written = o.firstVersion - 1;
    this.#part = this.#start(0, o.firstVersion, Buffer.alloc(0));
    const fd = this.#part.fd;
    // The part's begin record and its name in the directory, made durable in the pool; no group is
    // acknowledged before (#synced waits), or a power loss could take the file and its acked entries.
    this.opening = pool
      .fdatasync(this.#fs, fd)
      .then(() => syncDirInPool(this.#fs, o.dir))
      .then(
        () => void (this.#opened = true),
        () => void (this.#opened = true), // a failing disk fails the first group's own sync
      );
  }

  /** Part 0's begin record and directory entry are durable (see the constructor). */
  #opened = false;

  get path(): string {
    return this.#part.path;
  }

  /** This owner's parts, oldest first; the last one is being written. */
  get parts(): readonly OwnPart[] {
    return [...this.#done, this.#part];
  }

  /** The next group goes into a new part. */
  rotate(): void {
    this.#rotate = true;
  }

  /** Appends one entry (its JSON text); see 1. `waited: false`: nobody waits for this flush. */
  append(v: number, json: string, waited: boolean): Promise<void> {
    if (this.#closed) return Promise.reject(new LeaseholdError('ECLOSED', 'the journal is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ buf: frameJson(json), v, durable: waited, resolve, reject });
      if (!this.#flushing) this.#flushing = this.#flush();
      else if (waited) this.#wake?.();
      if (this.#queue.length >= GROUP_MAX_ENTRIES && !this.#syncing) this.#commitSync(this.#queue.splice(0));
    });
  }

  /** Creates part `index` (O_EXCL) with its begin record, `first` bytes and preallocated zeros, in one write. */
  #start(index: number, firstVersion: number, first: Buffer): Open {
    const o = this.#o;
    const name = partName(o.epoch, index);
    const path = join(o.dir, name);
    const begin = frame(beginRecord(o.epoch, index, firstVersion, o.fence));
    const records = begin.length + first.length;
    const out = Buffer.alloc(Math.max(PREALLOC_MIN_STEP, records + HEADER));
    begin.copy(out);
    first.copy(out, begin.length);
    let fd: number | undefined;
    try {
      // O_EXCL: each part is written by one process only (epochs are unique: the lease's fencing token).
      fd = openPrivate(this.#fs, path, CREATE);
      writeAll(this.#fs, fd, out, 0);
      // A rotation (every partMaxEntries entries): the new name is made durable before the group in it is
      // synced and acknowledged. Part 0's is synced in the pool (the constructor), off the takeover's path.
      if (index > 0) syncDirectory(this.#fs, o.dir);
    } catch (err) {
      if (fd !== undefined) {
        closeQuietly(this.#fs, fd);
        // Ours, and holding no begin record that was synced: nothing can depend on it.
        try {
          this.#fs.unlinkSync(path);
        } catch {
          // recovery reads a part without a begin record as empty
        }
      }
      throw err;
    }
    return { index, name, path, first: firstVersion, last: firstVersion - 1, fd, size: records, allocated: out.length };
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
      if (this.#o.lazyFlushMs > 0 && !this.#closed && !this.#queue.some((b) => b.durable)) await this.#lazyWait();
      const batch = this.#queue.splice(0);
      if (batch.length === 0) continue; // flushed meanwhile by a full group
      // Someone waits on this group: sync here, on the loop (a sync in the thread pool costs the pool
      // thread's wake-up on another core, then the loop's, and the loop has nothing better to do for the
      // waiters). A group nobody waits for is synced in the pool, so the loop goes on meanwhile.
      if (batch.some((b) => b.durable)) this.#commitSync(batch);
      else {
        this.#syncing = true;
        try {
          const part = this.#write(batch);
          if (part)
            await pool.fdatasync(this.#fs, part.fd).then(
              () => this.#synced(batch),
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
    const part = this.#write(batch);
    if (!part) return;
    try {
      this.#fs.fdatasyncSync(part.fd);
    } catch (err) {
      return this.#failed(batch, err);
    }
    this.#synced(batch);
  }

  /** Writes a group after the records (to the page cache), in a new part when one is due; on failure settles it. */
  #write(batch: Queued[]): Open | undefined {
    if (this.#broken !== undefined) {
      // A group after a failed one must not land: versions would have a gap (its owner steps down).
      for (const b of batch) b.reject(this.#broken);
      return undefined;
    }
    const buf = batch.length === 1 ? batch[0]!.buf : Buffer.concat(batch.map((b) => b.buf));
    try {
      this.#guard();
    } catch (err) {
      for (const b of batch) b.reject(err);
      return undefined;
    }
    const p = this.#part;
    const entries = p.last - p.first + 1;
    const due = this.#rotate || entries >= this.#o.partMaxEntries || p.size >= this.#o.partMaxBytes;
    try {
      if (due && entries > 0) {
        // 2. Every earlier group is synced (groups are written one after another).
        const next = this.#start(p.index + 1, batch[0]!.v, buf);
        const finished = { index: p.index, name: p.name, path: p.path, first: p.first, last: p.last };
        this.#done.push(finished);
        this.#retiring.push(this.#retire(p));
        this.#part = next;
        this.#rotate = false;
        this.stats.parts++;
        this.#o.onFinished?.(finished);
      } else {
        this.#preallocate(p, p.size + buf.length);
        writeAll(this.#fs, p.fd, buf, p.size);
        p.size += buf.length;
      }
    } catch (err) {
      this.#failed(batch, err);
      return undefined;
    }
    this.#part.last = batch.at(-1)!.v;
    this.written = this.#part.last;
    return this.#part;
  }

  /**
   * Drops a finished part's zeros at once, on the loop (no sync: microseconds; in the pool it waited behind
   * the journal's syncs while the zeros counted as disk used), and closes it in the pool. Best effort:
   * recovery stops at zeros.
   */
  async #retire(p: Open): Promise<void> {
    try {
      this.#fs.ftruncateSync(p.fd, p.size);
    } catch {
      // the zeros stay: recovery stops at them
    }
    await pool.close(this.#fs, p.fd);
  }

  #guard(): void {
    this.#o.guard();
  }

  #synced(batch: Queued[]): void {
    // Until part 0's name is durable, groups settle after it, in order (then callbacks run in order).
    if (!this.#opened) return void this.opening.then(() => this.#synced(batch));
    this.stats.flushes++;
    this.stats.entries += batch.length;
    for (const b of batch) this.stats.bytes += b.buf.length;
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
    const p = this.#part;
    if (p.last >= batch[0]!.v) {
      // Written (in part or whole) but not synced: cut back to the records before it.
      p.size -= batch.reduce((n, b) => n + b.buf.length, 0);
      p.last = batch[0]!.v - 1;
    }
    // A full disk may have taken part of it: cut back to the records; the next append preallocates again.
    try {
      this.#fs.ftruncateSync(p.fd, p.size);
      p.allocated = p.size;
    } catch {
      // recovery cuts a torn tail anyway
    }
    const e = ioError('append to the journal', p.path, err);
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
      timer = this.#o.clock.setTimeout(done, this.#o.lazyFlushMs);
    });
  }

  /** Extends the part with written zeros so that it reaches past `end` (synchronous, to the page cache). */
  #preallocate(p: Open, end: number): void {
    if (end <= p.allocated) return;
    const step = Math.min(PREALLOC_MAX_STEP, Math.max(PREALLOC_MIN_STEP, Math.floor(end * PREALLOC_FRACTION)));
    const target = end + step;
    for (let off = p.allocated; off < target;) {
      const n = Math.min(ZEROS.length, target - off);
      off += this.#fs.writeSync(p.fd, ZEROS, 0, n, off);
      p.allocated = off;
    }
  }

  /** Forgets finished parts that were deleted (a snapshot covers them). */
  forget(indexes: ReadonlySet<number>): void {
    for (let i = this.#done.length - 1; i >= 0; i--) if (indexes.has(this.#done[i]!.index)) this.#done.splice(i, 1);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    await this.#flushing;
    await this.opening;
    await Promise.all(this.#retiring);
    closeQuietly(this.#fs, this.#part.fd);
  }
}
