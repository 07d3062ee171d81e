/**
 * Is a key free? The one decision both stores make, kept pure so it can be tested as a table.
 *
 * Expiry is never computed from timestamps in the record (written by another process's wall clock): an
 * observer notes, on its own monotonic clock, when it first saw the record's current fingerprint, and the
 * lease is expired once that fingerprint has not changed for the record's ttl. A holder renews well
 * inside its ttl, so a live holder's fingerprint always changes in time.
 */
import { crc32 } from 'node:zlib';
import type { Clock } from '../clock.js';
import { fingerprint, type LeaseRecord, type NewestClaim } from './record.js';

export type Verdict =
  | { free: true; reason: 'none' | 'released' | 'expired' | 'holder-gone' }
  | { free: false; reason: 'held' | 'pinned' | 'corrupt' | 'claimed' };

/** The process behind a record or an epoch claim. */
export interface HolderProcess {
  instanceId: string;
  pid: number;
  processStart: string | null;
  host: string;
}

export interface AssessInput {
  record: LeaseRecord | undefined;
  /** True when the record file exists but cannot be read as a record. */
  corrupt: boolean;
  /** Monotonic ms for which the current fingerprint has been observed unchanged. */
  unchangedForMs: number;
  /** ttl to apply when the record is unreadable (its own ttl is unknown). */
  fallbackTtlMs: number;
  /** The newest claimed epoch (absent: not known, judge by the record alone). */
  newest?: NewestClaim;
  isProcessGone: (holder: HolderProcess) => boolean;
}

export function assess(input: AssessInput): Verdict {
  const { record } = input;
  if (input.corrupt)
    return input.unchangedForMs >= input.fallbackTtlMs ? { free: true, reason: 'expired' } : { free: false, reason: 'corrupt' };
  // A newer epoch is claimed than the record names: the record is stale (a writer that stalled while the
  // store's mutex was broken overwrote it, or it was deleted) or that epoch's holder has not written it
  // yet. The claim decides, never the stale record: its "released" or dead holder says nothing about now.
  const { newest } = input;
  if (newest && newest.epoch > (record?.epoch ?? 0)) {
    const c = newest.claim;
    if (c?.process && input.isProcessGone({ instanceId: c.instanceId, ...c.process })) return { free: true, reason: 'holder-gone' };
    return input.unchangedForMs >= (c?.ttlMs ?? input.fallbackTtlMs)
      ? { free: true, reason: 'expired' }
      : { free: false, reason: 'claimed' };
  }
  if (!record) return { free: true, reason: 'none' };
  if (record.releasedAt !== null) return { free: true, reason: 'released' };
  // A pin suspends expiry and takeover (as in juju); only a release frees a pinned lease.
  if (record.pins.length > 0) return { free: false, reason: 'pinned' };
  if (input.isProcessGone(record)) return { free: true, reason: 'holder-gone' };
  if (input.unchangedForMs >= record.ttlMs) return { free: true, reason: 'expired' };
  return { free: false, reason: 'held' };
}

/**
 * Remembers, per key, when the current fingerprint was first seen.
 *
 * Sound only if a fingerprint seen twice means "the holder wrote nothing in between". A renewed record's
 * counter rises, but a damaged record is not the holder's writing: a record deleted twice, or the same
 * bytes truncated twice, looks the same both times, and an observer that missed the repair in between
 * would time expiry from the first damage while the holder renewed after it (a double holder, found by
 * the chaos run). So the fingerprint includes the newest claim's repair count, which the holder raises
 * before every repair. The time is taken after the read, so it is never earlier than the holder's last
 * renewal that the read reflects.
 */
export class Observations {
  readonly #seen = new Map<string, { fp: string; at: number }>();
  constructor(private readonly clock: Clock) {}

  /** Records what is seen now; returns for how long (monotonic ms) it has been unchanged. */
  observe(key: string, record: LeaseRecord | undefined, corruptText?: string, newest: NewestClaim = { epoch: 0 }): number {
    // All of an unreadable text counts: two different damaged records (two torn reads of one-block records,
    // say) usually share their length and first bytes.
    const seen = corruptText !== undefined ? `corrupt:${corruptText.length}:${crc32(corruptText)}` : fingerprint(record);
    const fp = `${seen}|${newest.epoch}|${newest.claim?.repairs ?? 0}`;
    const now = this.clock.now();
    const prev = this.#seen.get(key);
    if (!prev || prev.fp !== fp) {
      this.#seen.set(key, { fp, at: now });
      return 0;
    }
    return now - prev.at;
  }
}
