/**
 * The journal's files and records: names, the format marker, and what each record holds.
 *
 * In `<dataRoot>/leasehold/state/<key>/`:
 *
 *   snapshot-000000000000042.json      one framed record (frames.ts): the state as of version 42
 *   journal-000000000000007-000003.log part 3 of the journal written by the owner of epoch 7
 *
 *   snapshot record:  {"f":1,"version":42,"epoch":7,"sv":2,"at":["instanceId",3],"dedup":{…},"state":…}
 *                     `at`: the id of change 42 (null: the owner's own; absent at version 0), so that a
 *                     replica at 42 can be checked against it (recovery.ts, step 7)
 *   part:             begin record, then entries, then preallocated zeros
 *     begin record:   {"t":"begin","f":1,"e":7,"p":3,"v":1201,"prev":{"e":6,"p":0,"n":4096}|null}
 *                     `v`: the version of the part's first entry (whether or not it was written);
 *                     `prev`: the fence, the same in every part of an epoch (recovery.ts)
 *     entry:          {"t":"m","v":1201,"e":7,"id":["instanceId",3],"m":{…}}
 *                     `"s":N` in the entry that changed the state's version (state/migrations.ts): a
 *                     migration's, or the first an owner writes on a new data root
 *
 * `sv` (and `s`): the version of the state's shape (`join({ stateVersion })`), 0 for an app without one.
 *
 * `f` is the format: a record of another format is reported as damage (ECORRUPT), never guessed at.
 */
import type { Json } from '../document.js';

export const FORMAT = 1;

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
  /** The state's version from this entry on (present only where it changed). */
  s?: number;
}

export interface Snapshot {
  version: number;
  epoch: number;
  /** The state's version (its shape: state/migrations.ts). */
  stateVersion: number;
  state: Json;
  /** The id of change `version` (null: the owner's own); absent only at version 0. */
  at?: [string, number] | null;
  /** Per sender: which sequence numbers were applied, and its latest applied version (state/dedup.ts). */
  dedup: Record<string, { seq: number; v: number; from?: number; below?: readonly number[] }>;
}

/** Where a new owner's history ends in its predecessor's journal: part `p` of epoch `e`, its first `n` bytes. */
export interface Fence {
  e: number;
  p: number;
  n: number;
}

export interface Begin {
  t: 'begin';
  f: number;
  e: number;
  p: number;
  v: number;
  prev: Fence | null;
}

const PART = /^journal-(\d{15})-(\d{6})\.log$/;
const SNAPSHOT = /^snapshot-(\d{15})\.json$/;
const pad = (n: number, width: number) => String(n).padStart(width, '0');

export const partName = (epoch: number, part: number): string => `journal-${pad(epoch, 15)}-${pad(part, 6)}.log`;
export const snapshotName = (version: number): string => `snapshot-${pad(version, 15)}.json`;

/** A part's epoch and index, from its file name (undefined: not a part). */
export function parsePartName(name: string): { epoch: number; part: number } | undefined {
  const m = PART.exec(name);
  return m ? { epoch: Number(m[1]), part: Number(m[2]) } : undefined;
}

/** A snapshot's version, from its file name (undefined: not a snapshot). */
export function parseSnapshotName(name: string): number | undefined {
  const m = SNAPSHOT.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The begin record of part `p` of epoch `e`, whose first entry will be version `v`. */
export function beginRecord(e: number, p: number, v: number, prev: Fence | null): Begin {
  return { t: 'begin', f: FORMAT, e, p, v, prev };
}

/** Why `value` is not the begin record of part `p` of epoch `e` (undefined: it is). */
export function beginProblem(value: Record<string, unknown> | undefined, e: number, p: number): string | undefined {
  if (!value || value.t !== 'begin') return 'no begin record';
  if (value.f !== FORMAT) return `format ${JSON.stringify(value.f)} is not known (this version writes ${FORMAT})`;
  if (value.e !== e || value.p !== p) return `the begin record names epoch ${String(value.e)} part ${String(value.p)}`;
  if (!Number.isSafeInteger(value.v) || (value.v as number) < 1) return 'the begin record has no first version';
  const prev = value.prev as Partial<Fence> | null | undefined;
  if (prev !== null && !(prev && Number.isSafeInteger(prev.e) && Number.isSafeInteger(prev.p) && Number.isSafeInteger(prev.n)))
    return 'the begin record has no valid fence';
  return undefined;
}
