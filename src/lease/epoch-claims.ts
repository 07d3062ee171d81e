/**
 * The epoch claims of one key: `epochs/<n>`, one file per claimed epoch (n zero-padded), created
 * exclusively (O_EXCL) — the fencing counter. Each names its claimer's instance, process and ttl, and how
 * often its holder repaired a damaged record (claims are JSON: record.ts).
 *
 * Guarantees: of processes claiming the same epoch, exactly one succeeds (O_EXCL on a local file
 * system); a rewrite (temp + rename) never lets the name stop existing, so nobody can claim that epoch
 * meanwhile, and readers see the old claim or the new one; no claim is read or written through a link.
 * Only the newest KEEP_EPOCHS claims are kept: fencing needs the newest one.
 * Not guaranteed: that a claim survives deletion of the whole key directory; O_EXCL atomicity on network
 * file systems.
 */
import { join } from 'node:path';
import { ioError } from '../errors.js';
import { createFile, errnoCode as code, padNumber, replaceFile } from '../fs-util.js';
import { readPrivate } from '../private-files.js';
import { parseClaim, serializeClaim, type EpochClaim, type NewestClaim } from './record.js';
import type { LeaseFs } from './lease-fs.js';

/** Claims older than the newest this many are deleted (best effort) at each new claim. */
export const KEEP_EPOCHS = 16;
/** Digits of a claim's file name. */
const EPOCH_DIGITS = 15;
/** A claim's name is a number; temp files of a rewrite are not, and readers skip them. */
const CLAIM_NAME = /^\d+$/;

export const claimName = (epoch: number): string => padNumber(epoch, EPOCH_DIGITS);

/** The highest epoch claimed in `dir`, and its claim when it is still there. */
export function newestClaim(fs: LeaseFs, dir: string): NewestClaim {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return { epoch: 0 };
    throw ioError('list', dir, err);
  }
  let epoch = 0;
  for (const n of names) if (CLAIM_NAME.test(n)) epoch = Math.max(epoch, Number(n));
  if (epoch === 0) return { epoch };
  const path = join(dir, claimName(epoch));
  try {
    return { epoch, claim: parseClaim(readPrivate(fs, path, 'utf8')) };
  } catch (err) {
    if (code(err) === 'ENOENT') return { epoch }; // pruned meanwhile: unknown claimer
    throw ioError('read', path, err);
  }
}

/** Claims `epoch` in `dir`: false when someone claimed it first. Prunes the old claims. */
export function claimEpoch(fs: LeaseFs, dir: string, epoch: number, claim: EpochClaim): boolean {
  const path = join(dir, claimName(epoch));
  try {
    createFile(fs, path, serializeClaim(claim), false);
  } catch (err) {
    if (code(err) === 'EEXIST') return false;
    throw ioError('claim epoch at', path, err);
  }
  pruneClaims(fs, dir, epoch - KEEP_EPOCHS);
  return true;
}

/**
 * Temp + rename: readers see the old claim or the new one, and the name never stops existing (so no
 * contender can claim this epoch meanwhile). The temp name is not a number: readers skip it.
 */
export function rewriteClaim(fs: LeaseFs, dir: string, epoch: number, claim: EpochClaim): void {
  replaceFile(fs, join(dir, claimName(epoch)), serializeClaim(claim), { what: 'rewrite the claim of epoch at' });
}

/** Keeps the directory small; the newest claims are what fencing needs. Best effort. */
function pruneClaims(fs: LeaseFs, dir: string, below: number): void {
  if (below <= 0) return;
  try {
    for (const n of fs.readdirSync(dir))
      if (CLAIM_NAME.test(n) && Number(n) < below)
        try {
          fs.unlinkSync(join(dir, n));
        } catch {
          // best effort
        }
  } catch {
    // best effort
  }
}
