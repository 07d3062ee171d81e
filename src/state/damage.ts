/**
 * A damaged state file: the marker that keeps instances from contending over a journal none of them can
 * read, and the repair that moves the damage aside.
 *
 *   <stateDir>/damaged.json   {"path", "offset", "message", "epoch", "instanceId", "file": {size, mtimeMs, ino}}
 *
 * A journal that fails recovery with ECORRUPT fails the same way for every owner after it, so retrying
 * only claims epoch after epoch. The owner that finds the damage writes this marker (temp + rename)
 * before it releases the lease, and every instance reads it before it acquires: it then reports the
 * failure and does not contend. Its followers, whose link closes at the release, read it too.
 *
 * The damage is in force while the file it names is exactly as it was found (same inode, size and mtime):
 * both ways out change it — `repair()` (what `leasehold repair` runs) replaces or moves it, and so does
 * moving the file aside by hand — so an instance that knows of the damage looks again every
 * `DAMAGE_POLL_MS` and contends once it is gone, without a restart. A marker naming a file that changed
 * since (a stale marker) is ignored, and so is a marker that does not parse: at worst each instance then
 * claims one epoch, fails, and writes a new one.
 *
 * Guaranteed: at most one epoch claimed per instance while the damaged file stays as it is (an instance
 * that read no marker before a failing owner wrote it may acquire once after that owner's release), and
 * none at all by instances that start later. Not guaranteed: that the marker is written (a full disk):
 * the instance that failed then still knows it, and stays out, but the others each try once.
 *
 * Repair (with the lease held, so that no owner reads or writes meanwhile), until recovery succeeds:
 *  1. A damaged snapshot is renamed aside (`<file>.corrupt-<timestamp>`); its state is rebuilt from an
 *     older snapshot and the journal's parts, as far as they reach (the parts it covered were deleted, so
 *     usually the first part left is then cut at 0 by step 2: the state starts over, and what it held is
 *     in the file set aside).
 *  2. A damaged part (or one that follows a missing one) is copied aside, then replaced by its records
 *     before the damage (the good prefix); every later part is renamed aside, since its entries follow
 *     the lost ones. Lost: the entries from the damaged record on, in that part and after it (all kept in
 *     the files set aside).
 *  3. The marker is removed.
 * Not guaranteed: a part whose begin record itself is damaged loses its fence, so the part before it is
 * then read to its end (including appends of a deposed owner, which were never acknowledged).
 */
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sleep, systemClock, type Clock } from '../clock.js';
import { LeaseholdError, ioError, isLeaseholdError } from '../errors.js';
import { parsePartName, parseSnapshotName, recoverDir } from './journal/index.js';

/** How often an instance that stays out over a damaged file looks whether it was repaired (one stat). */
export const DAMAGE_POLL_MS = 1000;

const MARKER = 'damaged.json';

/** How a file looked when it was found damaged. */
interface Fingerprint {
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface Damage {
  /** The damaged file. */
  path: string;
  /** The byte offset of the damage in it. */
  offset: number;
  /** The ECORRUPT message of the recovery that found it. */
  message: string;
  /** The epoch, and the instance, that found it. */
  epoch: number;
  instanceId: string;
  file: Fingerprint | null;
}

function fingerprint(path: string): Fingerprint | null {
  try {
    const st = fs.statSync(path, { throwIfNoEntry: false });
    return st ? { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino } : null;
  } catch {
    return null;
  }
}

/** True while the damaged file is as it was found. */
export function stillDamaged(d: Damage): boolean {
  const now = fingerprint(d.path);
  return d.file !== null && now !== null && now.size === d.file.size && now.mtimeMs === d.file.mtimeMs && now.ino === d.file.ino;
}

/**
 * Resolves once `d`'s file changed (repaired or moved aside), looking every DAMAGE_POLL_MS, or when
 * `signal` aborts. At least one pause: contending again can meet the same damage, and must not do so in a
 * tight loop.
 */
export async function untilRepaired(d: Damage, clock: Clock, signal: AbortSignal): Promise<void> {
  do await sleep(clock, DAMAGE_POLL_MS, signal).catch(() => undefined);
  while (!signal.aborted && stillDamaged(d));
}

/**
 * Records the damage `err` (an ECORRUPT from recovery) found by the owner of `epoch` in `dir`, for the
 * other instances; returns it (also when the marker could not be written: the caller still knows).
 */
export function markDamaged(dir: string, err: LeaseholdError, by: { epoch: number; instanceId: string }): Damage {
  const path = err.path ?? dir;
  const d: Damage = { path, offset: err.offset ?? 0, message: err.message, ...by, file: fingerprint(path) };
  const target = join(dir, MARKER);
  const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(d) + '\n', { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, target);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not created
    }
  }
  return d;
}

/** The damage recorded in `dir` if it is still in force; undefined when none, stale or unreadable. */
export function readDamage(dir: string): Damage | undefined {
  let text: string;
  try {
    text = fs.readFileSync(join(dir, MARKER), 'utf8');
  } catch {
    return undefined; // none (the usual case: one failed open)
  }
  let d: Partial<Damage>;
  try {
    d = JSON.parse(text) as Partial<Damage>;
  } catch {
    return undefined;
  }
  const f = d?.file as Partial<Fingerprint> | null | undefined;
  const valid =
    typeof d === 'object' &&
    d !== null &&
    typeof d.path === 'string' &&
    Number.isSafeInteger(d.offset) &&
    typeof d.message === 'string' &&
    Number.isSafeInteger(d.epoch) &&
    typeof d.instanceId === 'string' &&
    typeof f === 'object' &&
    f !== null &&
    typeof f.size === 'number' &&
    typeof f.mtimeMs === 'number' &&
    typeof f.ino === 'number';
  if (!valid) return undefined;
  return stillDamaged(d as Damage) ? (d as Damage) : undefined;
}

/** The error an instance that stays out reports: ECORRUPT naming the file and offset, and the way out. */
export function damageError(d: Damage, cause?: unknown): LeaseholdError {
  return new LeaseholdError(
    'ECORRUPT',
    `${d.message}. No instance owns this state until it is repaired: run \`leasehold repair\` on this data root and key ` +
      `(it keeps the records before the damage), or move ${basename(d.path)} aside`,
    { path: d.path, offset: d.offset, ...(cause !== undefined ? { cause } : {}) },
  );
}

export interface RepairStep {
  /** `moved`: renamed aside. `cut`: copied aside, then replaced by its first `offset` bytes. */
  action: 'moved' | 'cut';
  path: string;
  /** Where the original is now. */
  aside: string;
  /** For `cut`: the length kept; `bytes`: what was set aside beyond it (for `moved`: the whole file). */
  offset: number;
  bytes: number;
  why: string;
}

export interface RepairResult {
  steps: RepairStep[];
  /** The version recovery reaches after the repair. */
  version: number;
  /** A marker was removed. */
  markerRemoved: boolean;
}

/**
 * Repairs the state in `dir` (see the module header). Call it only while holding the key's lease.
 * Throws the recovery's error when the damage is not in a snapshot or segment, or when a step did not
 * get recovery past it.
 */
export async function repair(dir: string, options: { clock?: Clock } = {}): Promise<RepairResult> {
  const stamp = new Date((options.clock ?? systemClock).wallNow()).toISOString().replace(/[:.]/g, '-');
  const steps: RepairStep[] = [];
  const tried = new Set<string>();
  for (;;) {
    let err: unknown;
    try {
      const { version } = recoverDir(dir);
      return { steps, version, markerRemoved: removeMarker(dir) };
    } catch (e) {
      err = e;
    }
    if (!isLeaseholdError(err, 'ECORRUPT') || err.path === undefined) throw err;
    const at = `${err.path}@${err.offset ?? 0}`;
    if (tried.has(at)) throw err;
    tried.add(at);
    const name = basename(err.path);
    if (parseSnapshotName(name) !== undefined) {
      steps.push(moveAside(err.path, stamp, err.message));
      continue;
    }
    if (!parsePartName(name) || dirname(err.path) !== dir) throw err;
    steps.push(cutSegment(err.path, err.offset ?? 0, stamp, err.message));
    // Part names sort as the history runs (epoch, then part): every later one follows the lost entries.
    for (const later of fs.readdirSync(dir).sort())
      if (parsePartName(later) && later > name) steps.push(moveAside(join(dir, later), stamp, `follows the damage in ${name}`));
  }
}

function asidePath(path: string, stamp: string): string {
  return `${path}.corrupt-${stamp}`;
}

function moveAside(path: string, stamp: string, why: string): RepairStep {
  const aside = asidePath(path, stamp);
  try {
    const bytes = fs.statSync(path).size;
    fs.renameSync(path, aside);
    return { action: 'moved', path, aside, offset: 0, bytes, why };
  } catch (err) {
    throw ioError('move aside', path, err);
  }
}

/** Copies the segment aside, then replaces it (temp + fsync + rename) by its first `offset` bytes. */
function cutSegment(path: string, offset: number, stamp: string, why: string): RepairStep {
  const aside = asidePath(path, stamp);
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const buf = fs.readFileSync(path);
    fs.copyFileSync(path, aside, fs.constants.COPYFILE_EXCL);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, buf.subarray(0, offset));
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
    return { action: 'cut', path, aside, offset, bytes: Math.max(0, buf.length - offset), why };
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not created
    }
    throw ioError('cut the damaged segment', path, err);
  }
}

function removeMarker(dir: string): boolean {
  try {
    fs.unlinkSync(join(dir, MARKER));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError('remove', join(dir, MARKER), err);
  }
}
