/**
 * Lease timing: defaults with their reasons, and the checks that relate the fields.
 */
import { LeaseholdError } from '../errors.js';

/**
 * 5 s: long enough that a busy Electron main process (a 1–2 s stall is common during start-up or a large
 * synchronous write) keeps its lease, short enough that a hung owner is replaced within seconds. A crashed
 * owner does not wait for it: its death is detected from its pid in milliseconds.
 */
export const DEFAULT_TTL_MS = 5_000;
/** Renew three times per ttl, so two renewals can fail before the lease could expire. */
export const DEFAULT_RENEW_FRACTION = 1 / 3;
/** The smallest ttl accepted: below this, scheduling noise alone would lose leases. */
export const MIN_TTL_MS = 100;

export interface LeaseTiming {
  ttlMs: number;
  renewIntervalMs: number;
  /** A wall-clock jump larger than this (relative to the monotonic clock) ends the lease. */
  clockJumpMs: number;
  /** The holder treats its lease as lost this long before others could take it over. */
  safetyMarginMs: number;
}

export function resolveTiming(options: { ttlMs?: number; renewIntervalMs?: number; clockJumpMs?: number }): LeaseTiming {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < MIN_TTL_MS)
    throw new LeaseholdError('EINVALIDCONFIG', `ttlMs must be an integer ≥ ${MIN_TTL_MS}, got ${ttlMs}`, { field: 'ttlMs' });
  const renewIntervalMs = options.renewIntervalMs ?? Math.max(1, Math.floor(ttlMs * DEFAULT_RENEW_FRACTION));
  if (!Number.isSafeInteger(renewIntervalMs) || renewIntervalMs < 1)
    throw new LeaseholdError('EINVALIDCONFIG', `renewIntervalMs must be a positive integer, got ${renewIntervalMs}`, {
      field: 'renewIntervalMs',
    });
  if (renewIntervalMs * 2 > ttlMs)
    throw new LeaseholdError(
      'EINVALIDCONFIG',
      `renewIntervalMs (${renewIntervalMs}) must be at most half of ttlMs (${ttlMs}), so a lease survives one failed renewal`,
      { field: 'renewIntervalMs' },
    );
  const clockJumpMs = options.clockJumpMs ?? Math.max(1_000, Math.floor(ttlMs / 2));
  if (!(clockJumpMs > 0))
    throw new LeaseholdError('EINVALIDCONFIG', `clockJumpMs must be positive, got ${clockJumpMs}`, { field: 'clockJumpMs' });
  return { ttlMs, renewIntervalMs, clockJumpMs, safetyMarginMs: Math.min(250, Math.floor(ttlMs / 10)) };
}
