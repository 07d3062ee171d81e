/**
 * The lease record: who holds a key, since when, under which epoch.
 *
 * The record is an advertisement, not the lock: the file store writes it only while holding its mutex and
 * replaces it atomically, so readers never see half a record. A record that cannot be parsed is reported as
 * corrupt (with its path) and treated as "holder unknown": it blocks the lease for at most one ttl.
 * A record written by a newer format is refused with EFORMAT rather than overwritten.
 */
import { LeaseholdError } from '../errors.js';

export const RECORD_FORMAT = 1;

export type Meta = Record<string, unknown>;

export interface LeaseRecord {
  format: number;
  key: string;
  instanceId: string;
  /** Fencing token: rises by one at every acquisition, never reused. */
  epoch: number;
  pid: number;
  /** Process start time (an OS-specific token), so that a reused pid is not mistaken for the holder. */
  processStart: string | null;
  host: string;
  /** Wall-clock ms; for humans. Expiry is never computed from these. */
  acquiredAt: number;
  renewedAt: number;
  /** Rises at every renewal; observers time expiry from the moment they see it change. */
  renewals: number;
  ttlMs: number;
  renewIntervalMs: number;
  /** Wall-clock ms of a graceful release; the lease is free at once. */
  releasedAt: number | null;
  /** Entities that pinned the lease: while non-empty it does not expire. */
  pins: string[];
  meta: Meta;
}

function fail(path: string, why: string): LeaseholdError {
  return new LeaseholdError(
    'ECORRUPT',
    `lease record ${path} is corrupt (${why}); it is treated as held by an unknown instance until one ttl passes`,
    {
      path,
    },
  );
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

/** Parses and validates a record file's text. Throws ECORRUPT or EFORMAT naming `path`. */
export function parseRecord(text: string, path: string): LeaseRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail(path, text.length === 0 ? 'empty file' : 'not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path, 'not an object');
  const r = value as Record<string, unknown>;
  if (!isInt(r.format)) throw fail(path, 'no format');
  if (r.format > RECORD_FORMAT)
    throw new LeaseholdError(
      'EFORMAT',
      `lease record ${path} has format ${r.format}, written by a newer leasehold (this one reads ${RECORD_FORMAT}); upgrade this instance`,
      { path },
    );
  const bad = recordProblem(r);
  if (bad) throw fail(path, `bad field "${bad}"`);
  return r as unknown as LeaseRecord;
}

/** The first field of `value` that a record cannot have as it is, or undefined when `value` has a record's shape. */
export function recordProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'record';
  if (!isInt((value as { format?: unknown }).format)) return 'format';
  const r = value as Record<string, unknown>;
  const checks: [string, boolean][] = [
    ['key', typeof r.key === 'string'],
    ['instanceId', typeof r.instanceId === 'string' && r.instanceId.length > 0],
    ['epoch', isInt(r.epoch) && r.epoch > 0],
    ['pid', isInt(r.pid)],
    ['processStart', r.processStart === null || typeof r.processStart === 'string'],
    ['host', typeof r.host === 'string'],
    ['acquiredAt', typeof r.acquiredAt === 'number'],
    ['renewedAt', typeof r.renewedAt === 'number'],
    ['renewals', isInt(r.renewals)],
    ['ttlMs', isInt(r.ttlMs) && r.ttlMs > 0],
    ['renewIntervalMs', isInt(r.renewIntervalMs) && r.renewIntervalMs > 0],
    ['releasedAt', r.releasedAt === null || typeof r.releasedAt === 'number'],
    ['pins', Array.isArray(r.pins) && r.pins.every((p) => typeof p === 'string')],
    ['meta', typeof r.meta === 'object' && r.meta !== null && !Array.isArray(r.meta)],
  ];
  for (const [field, ok] of checks) if (!ok) return field;
  return undefined;
}

export function serializeRecord(record: LeaseRecord): string {
  return JSON.stringify(record) + '\n';
}

/**
 * Who claimed an epoch: written once, exclusively, before the record. It outlives a record that a stalled
 * writer overwrote or a user deleted, so a contender can still tell whether that epoch's holder is alive.
 */
export interface EpochClaim {
  instanceId: string;
  /** Absent in claims written by leasehold before this field existed (then only the ttl can free it). */
  process?: { pid: number; processStart: string | null; host: string };
  ttlMs?: number;
  /**
   * How many times this epoch's holder found its record missing, unreadable or overwritten and rewrote it.
   * The holder raises it (rewriting this file) before it repairs the record, so an observer that sees the
   * same damage twice (a record deleted twice, the same bytes truncated twice) can tell that the holder
   * renewed in between, even if it missed the repaired record (see assess.ts, Observations).
   */
  repairs?: number;
}

/** The newest claimed epoch of a key (0 and no claim when none was ever claimed). */
export interface NewestClaim {
  epoch: number;
  claim?: EpochClaim;
}

export function serializeClaim(claim: EpochClaim): string {
  return JSON.stringify(claim);
}

/** Parses a claim file; an unreadable one still names its epoch, so it is a claim by an unknown instance. */
export function parseClaim(text: string): EpochClaim | undefined {
  if (!text.startsWith('{')) return text.length > 0 && !text.includes('\n') ? { instanceId: text } : undefined; // plain instanceId (older files)
  try {
    const v = JSON.parse(text) as EpochClaim;
    if (typeof v.instanceId !== 'string') return undefined;
    const p = v.process;
    const processOk =
      p === undefined || (isInt(p.pid) && typeof p.host === 'string' && (p.processStart === null || typeof p.processStart === 'string'));
    const out: EpochClaim = processOk ? v : { instanceId: v.instanceId };
    if (v.repairs !== undefined && !(isInt(v.repairs) && v.repairs >= 0)) delete out.repairs;
    return out;
  } catch {
    return undefined;
  }
}

/** A fingerprint that changes whenever the holder writes; observers time expiry from its last change. */
export function fingerprint(record: LeaseRecord | undefined): string {
  if (!record) return 'none';
  return `${record.instanceId}/${record.epoch}/${record.renewals}/${record.releasedAt ?? ''}/${record.pins.join(',')}`;
}

/** Meta keys starting with this prefix are secrets: never shown by `inspect` callers that redact. */
export const SECRET_PREFIX = 'secret';

/** The record without secret meta fields (for `status`, logs, the `holder` property). */
export function redactRecord(record: LeaseRecord): LeaseRecord {
  const meta: Meta = {};
  for (const [k, v] of Object.entries(record.meta)) if (!k.toLowerCase().startsWith(SECRET_PREFIX)) meta[k] = v;
  return { ...record, meta, pins: [...record.pins] };
}
