/**
 * Options of `join()`: defaults (with reasons) and validation in one place, and the one timing object
 * (`Timing`) every wait of an instance is derived from: the lease, the heartbeat, the handover.
 *
 * Guarantees: a resolved `Timing` holds the relations listed at `resolveInstanceTiming` (a hung owner is
 * noticed inside the ttl, a handover gives up before the lease could expire); an option that breaks one is
 * refused with EINVALIDCONFIG naming that option. Not guaranteed: that the machine keeps these timings (a
 * stopped process keeps none; the lease's fencing, not the timings, keeps owners unique).
 */
import { basename } from 'node:path';
import { systemClock, type Clock } from './clock.js';
import { LeaseholdError } from './errors.js';
import { checkJson, splitPath, type Json } from './state/document.js';
import type { Action, ActionLike } from './state/json.js';
import { compileSchema, type StateCheck } from './state/schema.js';
import type { Reducers } from './state/reducers.js';
import { resolveVersioning, type Migrations, type StateVersioning } from './state/migrations.js';
import type { JournalFs } from './state/journal/index.js';
import { LeaseKey } from './lease/key.js';
import type { LeaseStore } from './lease/store.js';
import { resolveTiming, type LeaseTiming } from './lease/timing.js';
import type { TransportKind } from './transport/endpoint.js';
import { ADMISSION_DEFAULTS } from './transport/admission.js';
import { PRESENCE_COALESCE_MS } from './transport/server.js';

/**
 * `State`: the app's type for the shared state (see `join<State>()`); `Actions`: the union of its actions,
 * which types `reducers` and `state.dispatch()`.
 */
export interface JoinOptions<State = Json, Actions extends ActionLike = Action> {
  /** Where leasehold keeps its files (Electron: `app.getPath('userData')`). Required. */
  dataRoot: string;
  /** The app's name, used for the default key `/app/<app>/owner`. @default 'leasehold' */
  app?: string;
  /** The lease key all instances of the app join. @default `/app/<app>/owner` */
  key?: string | LeaseKey;
  /** This instance's display name (status, presence). @default `<script> <pid>` */
  name?: string;
  /**
   * The app's version, as this instance runs it (presence, `leasehold ps`); at most 64 characters.
   * @default '' (unknown); in Electron, `app.getVersion()`
   */
  appVersion?: string;
  /** Lease ttl: a hung owner is replaced after this. @default 5000 */
  ttlMs?: number;
  /** @default ttlMs / 3 */
  renewIntervalMs?: number;
  /** `tcp`: 127.0.0.1, random port. `ipc`: a Unix socket in a 0700 directory (a named pipe on Windows). @default 'tcp' */
  transport?: TransportKind;
  /** Followers ping the owner this often; two missed pongs mark it hung. @default min(1000, ttlMs / 5) */
  heartbeatIntervalMs?: number;
  /**
   * After a graceful handover, how long followers other than the chosen successor wait for it to take over
   * before contending themselves. Must be less than ttlMs. @default ttlMs / 5
   */
  handoverTimeoutMs?: number;
  /** Largest message accepted from a follower. @default 1 MiB */
  maxPayload?: number;
  /**
   * Connections to the owner's (or a standby successor's) endpoint that have not yet presented the secret,
   * at most: one more drops the oldest. Bounds the descriptors any local process can make the owner hold.
   * @default 64
   */
  maxUnauthenticated?: number;
  /** A connection that has not presented the secret after this long is closed. @default 3000 */
  authTimeoutMs?: number;
  /** Mutations waiting for an owner (unacknowledged) before more are refused with EFULL. @default 10000 */
  maxPendingMutations?: number;
  /** Largest value in one mutation. @default 256 KiB */
  maxValueBytes?: number;
  /**
   * The owner writes a snapshot of the state after this many journal entries (sooner for a small state: a
   * quarter of the last snapshot's size in entries), and deletes what it covers.
   * @default 10000
   */
  snapshotEvery?: number;
  /**
   * Reducers for `state.dispatch({ type, payload })`, by action type: `(state, payload) => nextState`, run
   * on the owner only (register the same ones in every instance: any of them may own). @default none
   */
  reducers?: Reducers<State, Actions>;
  /**
   * Top-level keys the state starts with: every new owner sets those that are absent (one journaled batch
   * at its takeover), so keys added by an app update appear in a state stored by an older version. Values
   * already stored are never replaced. @default none
   */
  defaults?: { [K in keyof State]?: State[K] };
  /**
   * A JSON Schema the state must satisfy: the owner checks the state each mutation would produce and refuses
   * a failing one with ESCHEMA naming the path (nothing applied). Needs the `ajv` package (an optional peer
   * dependency). Costs O(state) per mutation. @default none
   */
  schema?: object;
  /**
   * The version of the state's shape this code reads and writes (a non-negative integer). The state on disk
   * records the version that last shaped it: an older one is migrated by the new owner (`migrations`), a
   * newer one is left untouched and this instance stops with EOUTDATED (state/migrations.ts). Without one,
   * the state's version is not checked at all: declare it from the first release on to be protected.
   * @default the highest key of `migrations`, else none
   */
  stateVersion?: number;
  /**
   * Migrations by the state version each produces: `{ 2: (s) => { s.theme = s.dark ? 'dark' : 'light' } }`.
   * Each gets a mutable copy of the state as the version before left it, and changes it in place or returns
   * the next state. A new owner runs those above the stored version, in order, once, and journals the
   * result before it serves; never on a new data root. @default none
   */
  migrations?: Migrations;
  /** Injected clock (tests). @default the system clock */
  clock?: Clock;
  /** Injected lease store (tests). @default a FileLeaseStore on dataRoot */
  store?: LeaseStore;
  /** Injected file operations of the owner's journal (fault tests: a full disk). @default node:fs */
  journalFs?: JournalFs;
  /** Aborting it closes the instance (gracefully). */
  signal?: AbortSignal;
}

/**
 * Every duration an instance waits, resolved once from JoinOptions. The fixed ones are not options: each
 * is tied to a mechanism whose reason is given here, and the relations that matter are checked.
 */
export interface Timing extends LeaseTiming {
  /** Followers ping the owner (and the owner its followers) this often; two missed pongs mark it hung. */
  heartbeatIntervalMs: number;
  /** A follower's connection attempt to an owner gives up after this: max(CONNECT_TIMEOUT_MIN_MS, 2 heartbeats). */
  connectTimeoutMs: number;
  /** A connection that has not presented the secret after this long is closed. */
  authTimeoutMs: number;
  /** Joins and leaves within this window cause one presence broadcast (after a failover all arrive together). */
  presenceCoalesceMs: number;
  /**
   * A new owner designates its successor only this long after it starts serving, so that the successor's
   * listener and the followers' standby handshakes do not compete with the welcomes of a failover.
   */
  designateAfterMs: number;
  /** After a graceful handover, how long the others wait for the named successor before contending. */
  handoverTimeoutMs: number;
  /**
   * A leaving owner waits this long for followers with a standby link to leave by themselves before it
   * tells the rest: min(HANDOVER_LINGER_MAX_MS, handoverTimeoutMs).
   */
  handoverLingerMs: number;
  /** During a handover, how often a waiting instance reads the record when no change notification comes. */
  handoverPollMs: number;
  /**
   * A follower that sees the record change before its owner's `leaving` arrives waits this long for it: a
   * graceful owner announces before its release is seen, but the watcher can fire before the socket is read.
   */
  lateAnnouncementMs: number;
  /** After a failed connection to the record's owner (starting, just died, hung): read the record this often… */
  reconnectPollMs: number;
  /** …for at most this long before contending (acquisition takes over a dead owner at once). */
  reconnectWaitMs: number;
  /** An owner that could not start serving, or a failed listen or acquisition, waits this long before contending again… */
  retryMinMs: number;
  /** …doubling each time up to this. */
  retryMaxMs: number;
}

/** Below this a connection attempt would fail on a merely busy machine. */
export const CONNECT_TIMEOUT_MIN_MS = 200;
/** See Timing.designateAfterMs: longer than the welcomes of a failover take. */
export const DESIGNATE_AFTER_MS = 50;
/** See Timing.handoverLingerMs: followers with a standby link leave within a few ms; those without wait no longer. */
export const HANDOVER_LINGER_MAX_MS = 100;
/** See Timing.handoverPollMs: notifications wake a waiter at once; this only bounds a missed one. */
export const HANDOVER_POLL_MS = 25;
/** See Timing.lateAnnouncementMs: one announcement already written to the socket arrives well within it. */
export const LATE_ANNOUNCEMENT_MS = 50;
/** See Timing.reconnectPollMs / reconnectWaitMs. */
export const RECONNECT_POLL_MS = 10;
export const RECONNECT_WAIT_MS = 25;
/** See Timing.retryMinMs / retryMaxMs: a full disk or a refused directory is not retried in a tight loop. */
export const RETRY_MIN_MS = 50;
export const RETRY_MAX_MS = 1_000;
/** A follower with more bytes unsent than this is disconnected and resynced (owner-handler.ts). */
export const DEFAULT_MAX_FOLLOWER_BACKLOG_BYTES = 8 * 2 ** 20;

/**
 * The timing of an instance. Relations (each refused with EINVALIDCONFIG naming the option):
 *  - ttlMs ≥ MIN_TTL_MS; renewIntervalMs ≤ ttlMs / 2, so a lease survives one failed renewal (lease/timing.ts);
 *  - heartbeatIntervalMs < ttlMs / 2: a hung owner (two missed pongs) is noticed inside the ttl;
 *  - handoverTimeoutMs < ttlMs: followers give up on a successor that never serves before its lease,
 *    had it acquired one, could expire, so a handover never waits longer than a crash would;
 *  - authTimeoutMs > 0.
 * The derived ones hold by construction: handoverLingerMs ≤ handoverTimeoutMs, retryMinMs ≤ retryMaxMs.
 */
export function resolveInstanceTiming(options: {
  ttlMs?: number;
  renewIntervalMs?: number;
  heartbeatIntervalMs?: number;
  handoverTimeoutMs?: number;
  authTimeoutMs?: number;
}): Timing {
  const lease = resolveTiming(options);
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.min(1000, Math.floor(lease.ttlMs / 5));
  if (!(heartbeatIntervalMs > 0) || heartbeatIntervalMs * 2 >= lease.ttlMs)
    throw new LeaseholdError(
      'EINVALIDCONFIG',
      `heartbeatIntervalMs (${heartbeatIntervalMs}) must be positive and less than half of ttlMs (${lease.ttlMs}), so a hung owner is noticed inside the ttl`,
      { field: 'heartbeatIntervalMs' },
    );
  const handoverTimeoutMs = options.handoverTimeoutMs ?? Math.floor(lease.ttlMs / 5);
  if (!(handoverTimeoutMs > 0))
    throw new LeaseholdError('EINVALIDCONFIG', `handoverTimeoutMs must be positive`, { field: 'handoverTimeoutMs' });
  if (handoverTimeoutMs >= lease.ttlMs)
    throw new LeaseholdError(
      'EINVALIDCONFIG',
      `handoverTimeoutMs (${handoverTimeoutMs}) must be less than ttlMs (${lease.ttlMs}), so a handover never waits longer than a crash`,
      { field: 'handoverTimeoutMs' },
    );
  const authTimeoutMs = options.authTimeoutMs ?? ADMISSION_DEFAULTS.authTimeoutMs;
  if (!(authTimeoutMs > 0) || !Number.isFinite(authTimeoutMs))
    throw new LeaseholdError('EINVALIDCONFIG', 'authTimeoutMs must be a positive number of milliseconds', { field: 'authTimeoutMs' });
  return {
    ...lease,
    heartbeatIntervalMs,
    connectTimeoutMs: Math.max(CONNECT_TIMEOUT_MIN_MS, heartbeatIntervalMs * 2),
    authTimeoutMs,
    presenceCoalesceMs: PRESENCE_COALESCE_MS,
    designateAfterMs: DESIGNATE_AFTER_MS,
    handoverTimeoutMs,
    handoverLingerMs: Math.min(HANDOVER_LINGER_MAX_MS, handoverTimeoutMs),
    handoverPollMs: HANDOVER_POLL_MS,
    lateAnnouncementMs: LATE_ANNOUNCEMENT_MS,
    reconnectPollMs: RECONNECT_POLL_MS,
    reconnectWaitMs: RECONNECT_WAIT_MS,
    retryMinMs: RETRY_MIN_MS,
    retryMaxMs: RETRY_MAX_MS,
  };
}

export interface ResolvedJoinOptions {
  dataRoot: string;
  key: LeaseKey;
  name: string;
  appVersion: string;
  timing: Timing;
  transport: TransportKind;
  maxPayload: number;
  maxUnauthenticated: number;
  maxFollowerBacklogBytes: number;
  maxPendingMutations: number;
  maxValueBytes: number;
  snapshotEvery: number;
  reducers: Reducers;
  defaults: { [k: string]: Json } | undefined;
  check: StateCheck | undefined;
  versioning: StateVersioning;
  clock: Clock;
}

export function resolveJoinOptions(options: JoinOptions): ResolvedJoinOptions {
  if (typeof options !== 'object' || options === null)
    throw new LeaseholdError('EINVALIDCONFIG', 'join() needs an options object', { field: 'options' });
  if (typeof options.dataRoot !== 'string' || options.dataRoot.length === 0)
    throw new LeaseholdError('EINVALIDCONFIG', 'dataRoot is required: the directory where instances of the app meet', {
      field: 'dataRoot',
    });
  const key = options.key !== undefined ? LeaseKey.from(options.key) : LeaseKey.forApp(options.app ?? 'leasehold');
  const timing = resolveInstanceTiming(options);
  const transport = options.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ipc')
    throw new LeaseholdError('EINVALIDCONFIG', `transport must be 'tcp' or 'ipc', got ${String(transport)}`, { field: 'transport' });
  const maxPayload = options.maxPayload ?? 1 << 20;
  if (!Number.isSafeInteger(maxPayload) || maxPayload < 1024)
    throw new LeaseholdError('EINVALIDCONFIG', `maxPayload must be an integer ≥ 1024 bytes`, { field: 'maxPayload' });
  const maxUnauthenticated = options.maxUnauthenticated ?? ADMISSION_DEFAULTS.maxUnauthenticated;
  if (!Number.isSafeInteger(maxUnauthenticated) || maxUnauthenticated < 1)
    throw new LeaseholdError('EINVALIDCONFIG', 'maxUnauthenticated must be a positive integer', { field: 'maxUnauthenticated' });
  const maxPendingMutations = options.maxPendingMutations ?? 10_000;
  if (!Number.isSafeInteger(maxPendingMutations) || maxPendingMutations < 1)
    throw new LeaseholdError('EINVALIDCONFIG', 'maxPendingMutations must be a positive integer', { field: 'maxPendingMutations' });
  const maxValueBytes = options.maxValueBytes ?? 256 * 1024;
  if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes < 16 || maxValueBytes >= maxPayload)
    throw new LeaseholdError('EINVALIDCONFIG', `maxValueBytes must be an integer between 16 and maxPayload (${maxPayload})`, {
      field: 'maxValueBytes',
    });
  const snapshotEvery = options.snapshotEvery ?? 10_000;
  if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1)
    throw new LeaseholdError('EINVALIDCONFIG', 'snapshotEvery must be a positive integer', { field: 'snapshotEvery' });
  const reducers = options.reducers ?? {};
  if (typeof reducers !== 'object' || reducers === null || Object.values(reducers).some((r) => typeof r !== 'function'))
    throw new LeaseholdError('EINVALIDCONFIG', 'reducers maps action types to functions (state, payload) => nextState', {
      field: 'reducers',
    });
  const defaults = options.defaults as unknown;
  if (defaults !== undefined && (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults)))
    throw new LeaseholdError('EINVALIDCONFIG', 'defaults is an object of top-level keys', { field: 'defaults' });
  if (defaults !== undefined)
    try {
      for (const k of Object.keys(defaults)) if (splitPath(k).length !== 1) throw new Error(`"${k}" is not one path segment`);
      checkJson(defaults, 'defaults', Infinity);
    } catch (cause) {
      throw new LeaseholdError('EINVALIDCONFIG', `defaults must be plain JSON: ${(cause as Error).message}`, { field: 'defaults', cause });
    }
  const check = options.schema === undefined ? undefined : compileSchema(options.schema);
  const versioning = resolveVersioning(options.stateVersion, options.migrations);
  const script = process.argv[1] ? basename(process.argv[1]) : 'node';
  const name = options.name ?? `${script} ${process.pid}`;
  if (typeof name !== 'string' || name.length > 128)
    throw new LeaseholdError('EINVALIDCONFIG', 'name is a string of at most 128 characters', { field: 'name' });
  const appVersion = options.appVersion ?? '';
  if (typeof appVersion !== 'string' || appVersion.length > 64)
    throw new LeaseholdError('EINVALIDCONFIG', 'appVersion is a string of at most 64 characters', { field: 'appVersion' });
  return {
    dataRoot: options.dataRoot,
    key,
    name,
    appVersion,
    timing,
    transport,
    maxPayload,
    maxUnauthenticated,
    maxFollowerBacklogBytes: DEFAULT_MAX_FOLLOWER_BACKLOG_BYTES,
    maxPendingMutations,
    maxValueBytes,
    snapshotEvery,
    reducers,
    defaults: defaults as { [k: string]: Json } | undefined,
    check,
    versioning,
    clock: options.clock ?? systemClock,
  };
}
