/**
 * Recovery: what a new owner rebuilds from the journal's files, as a pure function of a listing and reads
 * (a {@link LogSource}: the directory in production, buffers in tests). It changes nothing; it says what the
 * caller may cut (a torn tail), trim (a fenced part's zeros) and delete (files nothing will read again).
 *
 * Steps (the fencing argument; layout.ts draws the records):
 *  1. The newest snapshot by name is read whole (it is the state, which a new owner holds in memory anyway);
 *     older ones are obsolete. V is its version (0 without one). A caller that holds a replica (a follower
 *     taking over) names its version R and the id of the change that produced it: the snapshot's header is
 *     read (its checksum over the whole record still checked) and its state only if step 7 fails.
 *  2. The newest *started* epoch N is the newest with a part whose begin record is valid. Parts of newer
 *     epochs, and parts of N after its newest started part, hold no begin record: their writers died (or
 *     their disk was full) before writing it, so they hold nothing anyone acknowledged. They must hold
 *     nothing but a torn write and zeros, or it is damage.
 *  3. The history is a chain walked backwards from N: N's parts are read to their end (the newest one's
 *     torn tail cut); every begin record of an epoch names the fence (e, p, n) its owner recorded when it
 *     took over: where the history it recovered ended. Epoch e is then read only up to part p, and part p
 *     only to byte n. A deposed owner of e that wrote on after that takeover wrote past n or into a later
 *     part: neither is ever read (and, by the lease check after every fsync, nothing there was
 *     acknowledged). Epochs the chain skips (owners that never served, deposed owners' leftovers) are
 *     never read.
 *  4. The walk stops at the first part (going back) whose first version is ≤ V + 1: the parts before it
 *     are covered by the snapshot, and are never read, not even their begin records. So recovery reads
 *     the snapshot plus the entries written since the part that holds V + 1 began, however long the
 *     owners before lived.
 *  5. Versions must continue without a gap from V + 1 (a part missing in the middle is damage); a bad
 *     frame is a torn tail only at the end of the unfenced newest part, followed only by zeros; anywhere
 *     else it is ECORRUPT naming the file and offset.
 *  6. The new owner's own fence is where the recovered history ends: the part holding its last entry (or,
 *     with no entry after V, the newest part read) and its length. Every other part off the chain, or on
 *     it without an entry after V, is obsolete once the new owner's begin record is durable: no walk from
 *     that begin record reaches it.
 *  7. With a replica: the history holds it when the change at version R carries the replica's id: the
 *     entry at R (V < R ≤ the end), or the snapshot's own change (R = V, its `at`). Ids are unique per mutation and an owner applies one at one version, so the replica
 *     is this history's prefix (the check a follower's resync makes, owner-handler.ts); the new owner then
 *     starts from the replica and applies only the entries after R (those up to R give their ids to the
 *     dedup table). Otherwise the snapshot's state is read as in step 1.
 * Memory: the snapshot (with a replica: one read chunk of it), the entries after V, and one read chunk.
 */
import { LeaseholdError } from '../../errors.js';
import { crc32 } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import { HEADER, SCAN_CHUNK_BYTES, corrupt, scanFrames, zerosUpTo, type ReadAt } from './frames.js';
import {
  FORMAT,
  beginProblem,
  partName,
  parsePartName,
  parseSnapshotName,
  type Begin,
  type Entry,
  type Fence,
  type Snapshot,
} from './layout.js';

/** Read-only access to the journal's files. */
export interface LogSource {
  /** The names in the directory; undefined when it does not exist. */
  list(): string[] | undefined;
  /** The path to name in errors. */
  path(name: string): string;
  size(name: string): number;
  /** Up to `length` bytes at `offset` (fewer only at the end of the file). */
  read(name: string, offset: number, length: number): Buffer;
}

/** A replica the caller holds (step 7): its version and the id of the change that produced it. */
export interface ReplicaPoint {
  version: number;
  id: [string, number];
}

/** The newest snapshot; `state` is absent only when the caller's replica stood in for it (`fromReplica`). */
export type RecoveredSnapshot = Omit<Snapshot, 'state'> & { state?: Snapshot['state'] };

export interface Recovery {
  snapshot: RecoveredSnapshot | undefined;
  /**
   * Set (to the replica's version) when the caller's replica is this history's prefix (step 7): the
   * snapshot's state was not read, and the entries up to this version are there for their ids only.
   */
  fromReplica?: number;
  /** The snapshot file's size in bytes (0 without one). */
  snapshotBytes: number;
  /** Entries after the snapshot, in order, versions continuous. */
  entries: Entry[];
  /** Their size in the journal, in bytes. */
  entriesBytes: number;
  /** The version recovered (the last entry's, or the snapshot's). */
  version: number;
  /** The state's version (its shape): the last entry's that names one, or the snapshot's; 0 without. */
  stateVersion: number;
  /** A torn tail of the newest part, to cut at `offset` before anything is written. */
  cut?: { name: string; path: string; offset: number; bytes: number };
  /** What a new owner's begin records name; null when there is no part. */
  fence: Fence | null;
  /** The fenced part holds zeros past the fence: it may be cut to `length` once the fence is durable. */
  trim?: { name: string; length: number };
  /** The highest epoch any part is named with (0: none). */
  newestEpoch: number;
  /** Files that no recovery from the new owner's begin record on will read. */
  obsolete: string[];
}

/** A begin record is small: anything longer at the head of a part is not one. */
const BEGIN_MAX_BYTES = 4096;

type Part = { name: string; epoch: number; part: number };
type Segment = Part & { begin: Begin; limit: number | undefined };

export function recover(source: LogSource, replica?: ReplicaPoint): Recovery {
  const listing = source.list() ?? [];
  // 1.
  const snapshots = listing.filter((n) => parseSnapshotName(n) !== undefined).sort();
  const newestSnapshot = snapshots.at(-1);
  let snapshot: RecoveredSnapshot | undefined =
    newestSnapshot === undefined
      ? undefined
      : ((replica && readSnapshotHeader(source, newestSnapshot)) ?? readSnapshot(source, newestSnapshot));
  const V = snapshot?.version ?? 0;
  const snapshotBytes = newestSnapshot === undefined ? 0 : source.size(newestSnapshot);
  const obsolete = new Set(snapshots.slice(0, -1));

  const byEpoch = new Map<number, Part[]>();
  for (const name of listing) {
    const p = parsePartName(name);
    if (!p) continue;
    let list = byEpoch.get(p.epoch);
    if (!list) byEpoch.set(p.epoch, (list = []));
    list.push({ name, ...p });
    obsolete.add(name); // until the walk keeps it
  }
  for (const list of byEpoch.values()) list.sort((a, b) => a.part - b.part);
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  const newestEpoch = epochs.at(-1) ?? 0;

  const heads = new Map<string, Begin | string>();
  const head = (p: Part): Begin | string => {
    let h = heads.get(p.name);
    if (h === undefined) heads.set(p.name, (h = readBegin(source, p)));
    return h;
  };

  // 2.
  let newest: { epoch: number; part: number } | undefined;
  for (const epoch of [...epochs].reverse()) {
    for (const p of [...byEpoch.get(epoch)!].reverse()) {
      if (typeof head(p) !== 'string') {
        newest = { epoch, part: p.part };
        break;
      }
      mustBeEmpty(source, p, head(p) as string);
    }
    if (newest) break;
  }
  if (!newest) {
    const proven = replica !== undefined && holds(replica, V, snapshot, []);
    return {
      snapshot: replica && !proven && newestSnapshot !== undefined ? readSnapshot(source, newestSnapshot) : snapshot,
      ...(proven ? { fromReplica: replica!.version } : {}),
      snapshotBytes,
      entries: [],
      entriesBytes: 0,
      version: V,
      stateVersion: snapshot?.stateVersion ?? 0,
      fence: null,
      newestEpoch,
      obsolete: [...obsolete],
    };
  }

  // 3. and 4.
  const segments: Segment[] = [];
  let cursor: { epoch: number; upTo: number; limit: number | undefined } | undefined = {
    epoch: newest.epoch,
    upTo: newest.part,
    limit: undefined,
  };
  while (cursor) {
    const { epoch, upTo, limit } = cursor;
    const parts = (byEpoch.get(epoch) ?? []).filter((p) => p.part <= upTo).reverse();
    cursor = undefined;
    let lowest: Begin | undefined;
    let done = false;
    for (const p of parts) {
      const h = head(p);
      if (typeof h === 'string') throw corrupt(source.path(p.name), 0, h);
      segments.unshift({ ...p, begin: h, limit: p.part === upTo ? limit : undefined });
      lowest = h;
      if (h.v <= V + 1) {
        done = true;
        break;
      }
    }
    const prev = lowest?.prev;
    if (!done && prev) {
      if (prev.e >= epoch) throw corrupt(source.path(segments[0]!.name), 0, `its fence names epoch ${prev.e}, not an earlier one`);
      if (byEpoch.has(prev.e)) cursor = { epoch: prev.e, upTo: prev.p, limit: prev.n };
    }
  }

  // 5.
  const entries: Entry[] = [];
  let entriesBytes = 0;
  let version = V;
  let stateVersion = snapshot?.stateVersion ?? 0;
  let cut: Recovery['cut'];
  let fence: Fence | undefined;
  let lastRead: Fence | undefined;
  const keep = new Set<string>();
  segments.forEach((s, i) => {
    const path = source.path(s.name);
    const size = source.size(s.name);
    if (s.begin.v > version + 1) throw corrupt(path, 0, `its first version ${s.begin.v} follows ${version}: a part before it is missing`);
    const limit = s.limit ?? size;
    if (limit > size) throw corrupt(path, size, `shorter than the ${limit} bytes its successor recorded`);
    const read: ReadAt = (o, n) => source.read(s.name, o, n);
    let any = false;
    const scanned = scanFrames(read, limit, (value, offset, bytes) => {
      if (offset === 0) return; // the begin record, read already
      const e = value as unknown as Entry;
      if (e.t !== 'm' || !Number.isSafeInteger(e.v)) throw corrupt(path, offset, 'not an entry');
      if (e.v <= version) return; // already in the snapshot
      if (e.v !== version + 1) throw corrupt(path, offset, `version ${e.v} follows ${version}`);
      if (e.s !== undefined) {
        if (!Number.isSafeInteger(e.s) || e.s < 0) throw corrupt(path, offset, 'its state version is not a non-negative integer');
        stateVersion = e.s;
      }
      version = e.v;
      entries.push(e);
      entriesBytes += bytes;
      any = true;
    });
    const length = scanned.goodLength;
    if (scanned.bad) {
      // Torn only at the end of the unfenced newest part, with nothing but zeros after it: its writer died
      // mid-write, so nothing past it was acknowledged. Anywhere else damage followed by data is corruption.
      const torn = i === segments.length - 1 && s.limit === undefined && zerosUpTo(read, scanned.bad.end, size);
      if (!torn) throw corrupt(path, scanned.bad.offset, scanned.bad.why);
      cut = { name: s.name, path, offset: scanned.goodLength, bytes: size - scanned.goodLength };
    }
    if (length === 0) throw corrupt(path, 0, 'no begin record');
    lastRead = { e: s.epoch, p: s.part, n: length };
    if (any) {
      fence = lastRead;
      keep.add(s.name);
    }
  });
  // 6.
  fence ??= lastRead!;
  const fenced = partName(fence.e, fence.p);
  keep.add(fenced);
  for (const name of keep) obsolete.delete(name);
  const trim = source.size(fenced) > fence.n && cut?.name !== fenced ? { name: fenced, length: fence.n } : undefined;
  // 7.
  const proven = replica !== undefined && holds(replica, V, snapshot, entries);
  if (replica && !proven && newestSnapshot !== undefined) snapshot = readSnapshot(source, newestSnapshot);
  return {
    snapshot,
    ...(proven ? { fromReplica: replica!.version } : {}),
    snapshotBytes,
    entries,
    entriesBytes,
    version,
    stateVersion,
    ...(cut ? { cut } : {}),
    fence,
    ...(trim ? { trim } : {}),
    newestEpoch,
    obsolete: [...obsolete],
  };
}

/** A part's begin record, or what is wrong with its head. */
function readBegin(source: LogSource, p: Part): Begin | string {
  let first: Record<string, unknown> | undefined;
  const size = source.size(p.name);
  const scanned = scanFrames(
    (o, n) => source.read(p.name, o, n),
    Math.min(size, HEADER + BEGIN_MAX_BYTES),
    (value) => {
      first ??= value;
    },
  );
  if (first === undefined) return scanned.bad ? scanned.bad.why : 'no begin record';
  return beginProblem(first, p.epoch, p.part) ?? (first as unknown as Begin);
}

/** A part without a begin record is empty (a torn write at most, then zeros), or it is damage. */
function mustBeEmpty(source: LogSource, p: Part, why: string): void {
  const size = source.size(p.name);
  const read: ReadAt = (o, n) => source.read(p.name, o, n);
  let records = 0;
  const scanned = scanFrames(read, size, () => records++);
  if (records > 0) throw corrupt(source.path(p.name), 0, why);
  if (scanned.bad && !zerosUpTo(read, scanned.bad.end, size)) throw corrupt(source.path(p.name), scanned.bad.offset, scanned.bad.why);
}

const sameId = (a: Entry['id'] | undefined, b: [string, number]) => Array.isArray(a) && a[0] === b[0] && a[1] === b[1];

/** Step 7: the change at the replica's version (an entry, or the snapshot's own) carries the replica's id. */
function holds(replica: ReplicaPoint, V: number, snapshot: RecoveredSnapshot | undefined, entries: Entry[]): boolean {
  if (replica.version === V) return sameId(snapshot?.at, replica.id);
  const at = replica.version > V ? entries[replica.version - V - 1] : undefined;
  return at !== undefined && at.v === replica.version && sameId(at.id, replica.id);
}

/** The most of a snapshot's header (its dedup table) that is scanned for the state's start. */
const SNAPSHOT_HEADER_MAX_CHARS = 64 * 1024 * 1024;

/**
 * A snapshot's header (all but its state), read a chunk at a time: the checksum over the whole record is
 * checked (ECORRUPT as {@link readSnapshot}), and only the text before the state is parsed. Undefined when
 * anything else is unexpected (the framing, no state found in SNAPSHOT_HEADER_MAX_CHARS, a header that
 * does not parse, a record that does not end its object): readSnapshot then reads it whole and says what is
 * wrong, or accepts it as it always did.
 */
function readSnapshotHeader(source: LogSource, name: string): RecoveredSnapshot | undefined {
  const path = source.path(name);
  const size = source.size(name);
  const first = source.read(name, 0, Math.min(size, SCAN_CHUNK_BYTES));
  if (first.length < HEADER || HEADER + first.readUInt32LE(0) !== size) return undefined;
  const decoder = new StringDecoder('utf8');
  const header = new HeaderScan();
  let sum = 0;
  let last = 0;
  for (let off = 0; off < size;) {
    const got = off === 0 ? first : source.read(name, off, Math.min(SCAN_CHUNK_BYTES, size - off));
    if (got.length === 0) return undefined;
    const payload = off === 0 ? got.subarray(HEADER) : got;
    sum = crc32(payload, sum);
    if (header.end === undefined && header.chars < SNAPSHOT_HEADER_MAX_CHARS) header.add(decoder.write(payload));
    last = got[got.length - 1]!;
    off += got.length;
  }
  if (sum !== first.readUInt32LE(4)) throw corrupt(path, 0, 'checksum mismatch', 'snapshot');
  if (header.end === undefined || last !== 0x7d /* } */) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(`${header.text.slice(0, header.end)}}`);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || 'state' in v) return undefined;
  return checkSnapshot(path, name, { ...v, state: undefined });
}

/**
 * Finds where `,"state":` begins at the record's top level, outside strings (the dedup table before it
 * holds any string), in text given a piece at a time: `end` is its index in `text`.
 */
class HeaderScan {
  text = '';
  end: number | undefined;
  #at = 0;
  #depth = 0;
  #inString = false;

  get chars(): number {
    return this.text.length;
  }

  add(piece: string): void {
    this.text += piece;
    const t = this.text;
    let i = this.#at;
    for (; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (this.#inString) {
        if (c === 0x5c /* \ */) {
          if (i + 1 >= t.length) break; // the escaped character comes with the next piece
          i++;
        } else if (c === 0x22 /* " */) this.#inString = false;
      } else if (c === 0x22) {
        if (this.#depth === 1 && t.charCodeAt(i - 1) === 0x2c /* , */) {
          if (t.length - i < 8) break; // `"state":` may end in the next piece
          if (t.startsWith('"state":', i)) {
            this.end = i - 1;
            return;
          }
        }
        this.#inString = true;
      } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) this.#depth++;
      else if (c === 0x7d /* } */ || c === 0x5d /* ] */) this.#depth--;
    }
    this.#at = i;
  }
}

/** A snapshot file's content; ECORRUPT (the file kept) when it is damaged. */
function readSnapshot(source: LogSource, name: string): Snapshot {
  const path = source.path(name);
  const size = source.size(name);
  const records: { value: Record<string, unknown>; offset: number }[] = [];
  // One record, as large as the state: read it at once.
  const scanned = scanFrames(
    (o, n) => source.read(name, o, n),
    size,
    (value, offset) => records.push({ value, offset }),
    size,
  );
  if (scanned.bad) throw corrupt(path, scanned.bad.offset, scanned.bad.why, 'snapshot');
  if (records.length !== 1)
    throw corrupt(path, records[1]?.offset ?? 0, records.length === 0 ? 'no record' : 'more than one record', 'snapshot');
  return checkSnapshot(path, name, records[0]!.value) as Snapshot;
}

/** The snapshot a record holds; ECORRUPT when it is not one. */
function checkSnapshot(path: string, name: string, v: Record<string, unknown>): RecoveredSnapshot {
  if (v.f !== FORMAT) throw corrupt(path, 0, `format ${JSON.stringify(v.f)} is not known (this version writes ${FORMAT})`, 'snapshot');
  if (!Number.isSafeInteger(v.version) || v.version !== parseSnapshotName(name))
    throw corrupt(path, 0, 'not a snapshot: its version is not the one in its name', 'snapshot');
  if (typeof v.dedup !== 'object' || v.dedup === null) throw corrupt(path, 0, 'not a snapshot: no dedup table', 'snapshot');
  if (!('state' in v)) throw corrupt(path, 0, 'not a snapshot: no state', 'snapshot');
  if (!Number.isSafeInteger(v.sv) || (v.sv as number) < 0) throw corrupt(path, 0, 'not a snapshot: no state version', 'snapshot');
  if (
    v.at !== undefined &&
    v.at !== null &&
    !(Array.isArray(v.at) && v.at.length === 2 && typeof v.at[0] === 'string' && Number.isSafeInteger(v.at[1]))
  )
    throw corrupt(path, 0, 'not a snapshot: its `at` is not an id', 'snapshot');
  return {
    version: v.version as number,
    epoch: v.epoch as number,
    stateVersion: v.sv as number,
    ...(v.at !== undefined ? { at: v.at as Snapshot['at'] } : {}),
    ...(v.state !== undefined ? { state: v.state as Snapshot['state'] } : {}),
    dedup: v.dedup as Snapshot['dedup'],
  };
}

/** For callers that must refuse to run behind a newer owner. */
export function supersededError(dir: string, newestEpoch: number, epoch: number): LeaseholdError {
  return new LeaseholdError('ELOST', `journal in ${dir} already has a part of epoch ${newestEpoch} ≥ ${epoch}: a newer owner wrote here`, {
    reason: 'superseded',
    path: dir,
  });
}
