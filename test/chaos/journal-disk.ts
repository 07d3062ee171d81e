/**
 * What the owner's journal directory holds, checked from outside the processes (chaos runs): what a new
 * owner would recover from it (the state, rebuilt as recovery and replay do), and whether the directory
 * is within the bound compaction promises (src/state/journal/index.ts): once the owner of `epoch` has
 * compacted, one snapshot, no snapshot temp file, only that epoch's parts, no file recovery calls
 * obsolete, and fewer than `snapshotEvery` entries past the snapshot.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LeaseKey } from '../../src/lease/key.js';
import { parsePartName, parseSnapshotName, recoverDir } from '../../src/state/journal/index.js';
import { SNAPSHOT_TEMP } from '../../src/state/journal/compaction.js';
import { stateDir } from '../../src/state/owner-handler.js';
import { applyInPlace } from '../../src/state/replay.js';
import type { Json, Mutation } from '../../src/state/json.js';

/** The journal directory of the key `leasehold instance` joins by default, under `dataRoot`. */
export const journalDirOf = (dataRoot: string, app = 'leasehold'): string =>
  stateDir(join(dataRoot, 'leasehold'), LeaseKey.forApp(app).pathSegments());

/** The state and version a new owner would recover from `dir` now. */
export function recoveredState(dir: string): { version: number; state: Json } {
  const r = recoverDir(dir);
  let state: Json = structuredClone(r.snapshot?.state ?? {});
  for (const e of r.entries) state = applyInPlace(state, e.m as Mutation);
  return { version: r.version, state };
}

/** Why `dir` is beyond the bound for an owner of `epoch` that has compacted since it took over (undefined: within). */
export function beyondBound(dir: string, epoch: number, snapshotEvery: number): string | undefined {
  const names = readdirSync(dir);
  const snapshots = names.filter((n) => parseSnapshotName(n) !== undefined);
  const temps = names.filter((n) => SNAPSHOT_TEMP.test(n));
  const foreign = names.filter((n) => {
    const p = parsePartName(n);
    return p !== undefined && p.epoch !== epoch;
  });
  const r = recoverDir(dir);
  const problems = [
    snapshots.length !== 1 && `${snapshots.length} snapshots`,
    temps.length > 0 && `snapshot temp files ${temps.join(', ')}`,
    foreign.length > 0 && `parts of other epochs than ${epoch}: ${foreign.join(', ')}`,
    r.obsolete.length > 0 && `obsolete files ${r.obsolete.join(', ')}`,
    r.entries.length >= snapshotEvery && `${r.entries.length} entries past the snapshot (snapshotEvery ${snapshotEvery})`,
  ].filter((p): p is string => typeof p === 'string');
  return problems.length > 0 ? `${problems.join('; ')} in ${dir}: ${names.sort().join(' ')}` : undefined;
}
