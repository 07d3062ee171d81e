/**
 * The owner's journal: every mutation is appended and flushed before it is acknowledged; snapshots bound
 * what a new owner reads. Files, records and the format: layout.ts; frames: frames.ts; the fencing
 * argument and what recovery reads: recovery.ts; appends, group commit and parts: segment-writer.ts;
 * snapshots: compaction.ts.
 *
 * Files are 0600 in 0700 directories, checked and opened as private-files.ts says: every directory below
 * `base` once per open; no file read, cut or written through a symbolic link (one is refused with EIO).
 *
 * Opening (recovery, the cut of a torn tail, the first part's begin record) is synchronous, so a new
 * owner's start-up spends no event-loop turns while other processes compete for the CPU during a
 * failover; the first part's sync runs in the thread pool (every group commit syncs the part again before
 * anything is acknowledged, so the fence is durable before anything depends on it). Once it is synced,
 * the files recovery found obsolete are deleted and the fenced part's zeros dropped, in the pool.
 *
 * Compaction (`compact`): the next group starts a new part; the snapshot is written off the loop; then
 * every file it covers is deleted: older snapshots, every part of older epochs, and this owner's parts
 * whose entries it holds. So the journal on disk is the snapshot (two while the next one is written) and
 * the parts since it began.
 * Not guaranteed: durability when the disk lies about fdatasync; after a power loss (not a process crash),
 * a disk that persisted a later page of one group commit but not an earlier one shows as ECORRUPT rather
 * than as a torn tail.
 */
import * as nodeFs from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { LeaseholdError, ioError } from '../../errors.js';
import { systemClock, type Clock } from '../../clock.js';
import { WRITE, ensurePrivateDir, openPrivate } from '../../private-files.js';
import { parsePartName, parseSnapshotName, type Entry, type Snapshot } from './layout.js';
import { recover, supersededError, type Recovery, type ReplicaPoint } from './recovery.js';
import { fsSource } from './fs-source.js';
import { SegmentWriter, type OwnPart } from './segment-writer.js';
import { SNAPSHOT_TEMP, deleteFiles, writeSnapshot } from './compaction.js';
import { pool, type JournalFs } from './fs.js';

export type { Entry, Snapshot, Fence } from './layout.js';
export type { JournalFs } from './fs.js';
export type { LogSource, Recovery, ReplicaPoint } from './recovery.js';
export { recover } from './recovery.js';
export { frame, frameJson, parseFrames, allZero } from './frames.js';
export { partName, snapshotName, parsePartName, parseSnapshotName } from './layout.js';

/** What OwnerState needs of its journal. */
export interface Log {
  /** Appends the entry producing version `v` (its JSON text); resolves once it is durable and the lease held. */
  append(v: number, json: string, waited: boolean): Promise<void>;
  /** The last version written: a snapshot of it lets the next part start right after it. */
  readonly written: number;
  /** Writes a snapshot and deletes what it covers; the state must not change meanwhile (it is immutable). */
  compact(snapshot: Snapshot, behind?: () => number): Promise<void>;
  /**
   * How many entries early to start the next snapshot so that the journal on disk stays within two
   * snapshots and `snapshotEvery` entries: how many arrived past the last snapshot before the files it
   * covered were deleted (while it was written and synced). 0 before the first compaction.
   */
  readonly lead?: number;
  /** The size in bytes of the newest durable snapshot (0: none). */
  readonly snapshotBytes?: number;
}

/** What a new owner rebuilds its state from. */
export type Recovered = Pick<Recovery, 'snapshot' | 'entries' | 'cut'> &
  Partial<Pick<Recovery, 'entriesBytes' | 'stateVersion' | 'fromReplica'>>;

/** A part of 64 MiB starts the next one, whatever the entry count. */
export const PART_MAX_BYTES = 64 * 1024 * 1024;

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
   * a durable append, or close(), flushes it at once. @default 2
   */
  lazyFlushMs?: number;
  /** A part with this many entries starts the next one (snapshots start one too). @default 10000 */
  partMaxEntries?: number;
  /** @default PART_MAX_BYTES */
  partMaxBytes?: number;
  /** @default systemClock */
  clock?: Clock;
  /**
   * Called with what recovery found, before anything is written (the cut of a torn tail included): what
   * it throws, open() throws, and the directory is left exactly as it was.
   */
  accept?: (recovery: Recovery) => void;
  /**
   * The replica this process holds (a follower taking over): when the history holds it (recovery.ts, step
   * 7), the snapshot's state is not read and `recovered.fromReplica` says so. @default none
   */
  replica?: ReplicaPoint;
}

export class Journal implements Log {
  readonly epoch: number;
  readonly #dir: string;
  readonly #fs: JournalFs;
  readonly #guard: () => void;
  readonly #clock: Clock;
  readonly #writer: SegmentWriter;
  /** Deleting what recovery found obsolete, once the first part is synced. */
  readonly #cleanup: Promise<void>;
  #closed = false;
  /** The version of the newest snapshot this owner made durable. */
  #covered = 0;
  /** Deleting parts a snapshot covers that were finished after it. */
  #dropping: Promise<void>[] = [];
  /** The compaction running, if any: close() waits for it. */
  #compacting: Promise<void> = Promise.resolve();
  #lead = 0;
  #snapshotBytes: number;

  private constructor(o: JournalOptions, fs: JournalFs, writer: SegmentWriter, recovery: Recovery) {
    this.epoch = o.epoch;
    this.#dir = o.dir;
    this.#fs = fs;
    this.#guard = o.guard;
    this.#clock = o.clock ?? systemClock;
    this.#writer = writer;
    this.#snapshotBytes = recovery.snapshotBytes;
    this.#cleanup = writer.opening.then(async () => {
      await deleteFiles(fs, o.dir, recovery.obsolete);
      if (recovery.trim) await trim(fs, join(o.dir, recovery.trim.name), recovery.trim.length);
    });
  }

  /**
   * Recovers what is on disk (cutting a torn tail of the newest part) and starts this epoch's first part.
   * Throws ECORRUPT (nothing modified) when a damaged record is found anywhere but a newest part's tail,
   * ELOST when a newer epoch wrote here.
   */
  static async open(options: JournalOptions): Promise<{ journal: Journal; recovered: Recovered }> {
    const fs = options.fs ?? nodeFs;
    prepareJournalDir(options.dir, options.base, fs);
    const recovery = recoverDir(options.dir, fs, options.replica);
    if (recovery.newestEpoch >= options.epoch) throw supersededError(options.dir, recovery.newestEpoch, options.epoch);
    options.accept?.(recovery);
    if (recovery.cut)
      try {
        const fd = openPrivate(fs, recovery.cut.path, WRITE);
        try {
          fs.ftruncateSync(fd, recovery.cut.offset);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        throw ioError('cut the torn tail of', recovery.cut.path, err);
      }
    options.guard();
    let writer: SegmentWriter;
    let journal: Journal | undefined;
    try {
      writer = new SegmentWriter({
        // A part finished after the snapshot that covers it was made (no entry came meanwhile) goes now.
        onFinished: (part) => {
          if (journal) journal.#dropFinished(part);
        },
        dir: options.dir,
        epoch: options.epoch,
        guard: options.guard,
        fs,
        clock: options.clock ?? systemClock,
        lazyFlushMs: options.lazyFlushMs ?? 2,
        fence: recovery.fence,
        firstVersion: recovery.version + 1,
        partMaxEntries: options.partMaxEntries ?? 10_000,
        partMaxBytes: options.partMaxBytes ?? PART_MAX_BYTES,
      });
    } catch (err) {
      if (err instanceof LeaseholdError) throw err;
      throw ioError('start the journal part', options.dir, err);
    }
    const { snapshot, entries, entriesBytes, stateVersion, cut, fromReplica } = recovery;
    journal = new Journal(options, fs, writer, recovery);
    return {
      journal,
      recovered: {
        snapshot,
        entries,
        entriesBytes,
        stateVersion,
        ...(cut ? { cut } : {}),
        ...(fromReplica !== undefined ? { fromReplica } : {}),
      },
    };
  }

  #dropFinished(part: OwnPart): void {
    if (part.last > this.#covered) return;
    this.#writer.forget(new Set([part.index]));
    this.#dropping.push(deleteFiles(this.#fs, this.#dir, [part.name]));
  }

  /** The part being written. */
  get path(): string {
    return this.#writer.path;
  }
  get written(): number {
    return this.#writer.written;
  }
  get lead(): number {
    return this.#lead;
  }
  get snapshotBytes(): number {
    return this.#snapshotBytes;
  }
  /** Flushes, entries (and their bytes) and parts written; for benchmarks and tests. */
  get stats(): { flushes: number; entries: number; bytes: number; parts: number } {
    return this.#writer.stats;
  }

  append(v: number, json: string, waited: boolean): Promise<void> {
    return this.#writer.append(v, json, waited);
  }

  /** Appends an entry object (tests and tools; the owner serializes its entries itself). */
  appendEntry(entry: Entry, waited = true): Promise<void> {
    return this.#writer.append(entry.v, JSON.stringify(entry), waited);
  }

  compact(snapshot: Snapshot, behind?: () => number): Promise<void> {
    if (this.#closed) return Promise.reject(new LeaseholdError('ECLOSED', 'the journal is closed'));
    const done = this.#compact(snapshot, behind);
    this.#compacting = done.catch(() => undefined);
    return done;
  }

  async #compact(snapshot: Snapshot, behind?: () => number): Promise<void> {
    this.#guard();
    this.#writer.rotate();
    const written = await writeSnapshot({ dir: this.#dir, fs: this.#fs, clock: this.#clock, guard: this.#guard, snapshot, behind });
    this.#snapshotBytes = written.bytes;
    this.#covered = Math.max(this.#covered, snapshot.version);
    const own = this.#writer.parts.slice(0, -1).filter((p) => p.last <= snapshot.version);
    const names = this.#fs.readdirSync(this.#dir).filter((n) => {
      const s = parseSnapshotName(n);
      const p = parsePartName(n);
      return (s !== undefined && s < snapshot.version) || (p !== undefined && p.epoch < this.epoch) || SNAPSHOT_TEMP.test(n);
    });
    this.#writer.forget(new Set(own.map((p) => p.index)));
    await deleteFiles(this.#fs, this.#dir, [...names, ...own.map((p) => p.name)]);
    // Until now the disk held both snapshots, the parts this one covers, and the entries written since
    // it began: the next snapshot starts that many entries early.
    this.#lead = this.#writer.written - snapshot.version;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close();
    await this.#compacting;
    await this.#cleanup;
    await Promise.all(this.#dropping);
  }
}

/** Recovers the journal in `dir` (recovery.ts), reading it and changing nothing. */
export function recoverDir(dir: string, fs: JournalFs = nodeFs, replica?: ReplicaPoint): Recovery {
  const source = fsSource(dir, fs);
  try {
    return recover(source, replica);
  } finally {
    source.close();
  }
}

/** Cuts a file to `length` without following a link at `path`; best effort. */
async function trim(fs: JournalFs, path: string, length: number): Promise<void> {
  let fd: number;
  try {
    fd = openPrivate(fs, path, WRITE);
  } catch {
    return;
  }
  await pool.ftruncate(fs, fd, length).catch(() => undefined);
  await pool.close(fs, fd);
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

/**
 * Reads the journal as a new owner would, changing nothing and keeping nothing: a designated successor
 * does this while it stands by, so that at the takeover the code is compiled and the files are in the page
 * cache. With the successor's replica, as its takeover will (the snapshot's header only, when the journal
 * holds the replica). Skipped when the files add up to more than `maxBytes` (it runs on the follower's event
 * loop). Never throws.
 */
export function prefetch(dir: string, replica?: ReplicaPoint, maxBytes = 4 * 1024 * 1024): void {
  try {
    let total = 0;
    for (const name of nodeFs.readdirSync(dir))
      if (parsePartName(name) || parseSnapshotName(name) !== undefined) total += nodeFs.statSync(join(dir, name)).size;
    if (total <= maxBytes) recoverDir(dir, nodeFs, replica);
  } catch {
    // nothing there yet, or damaged: the takeover reports it
  }
}
