/**
 * Options of `join()`: defaults (with reasons) and validation in one place.
 */
import { basename } from 'node:path';
import { systemClock, type Clock } from './clock.js';
import { LeaseholdError } from './errors.js';
import { checkJson, splitPath, type Json } from './state/document.js';
import { compileSchema, type StateCheck } from './state/schema.js';
import type { Reducers } from './state/reducers.js';
import type { JournalFs } from './state/journal/index.js';
import { LeaseKey } from './lease/key.js';
import type { LeaseStore } from './lease/store.js';
import { resolveTiming, type LeaseTiming } from './lease/timing.js';
import type { TransportKind } from './transport/endpoint.js';
import { ADMISSION_DEFAULTS } from './transport/admission.js';

/** `State`: the app's type for the shared state (see `join<State>()`). */
export interface JoinOptions<State = Json> {
  /** Where leasehold keeps its files (Electron: `app.getPath('userData')`). Required. */
  dataRoot: string;
  /** The app's name, used for the default key `/app/<app>/owner`. @default 'leasehold' */
  app?: string;
  /** The lease key all instances of the app join. @default `/app/<app>/owner` */
  key?: string | LeaseKey;
  /** This instance's display name (status, presence). @default `<script> <pid>` */
  name?: string;
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
   * before contending themselves. @default ttlMs / 5
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
   * The owner writes a snapshot of the state after this many journal entries, and deletes what it covers.
   * Also the most entries a new owner replays, and the most the disk holds beside two snapshots: an owner
   * that reaches this many entries past its last durable snapshot while the next one is still being
   * written holds further mutations (their acks come late) until it is durable.
   * @default 10000
   */
  snapshotEvery?: number;
  /**
   * Reducers for `state.dispatch({ type, payload })`, by action type: `(state, payload) => nextState`, run
   * on the owner only (register the same ones in every instance: any of them may own). @default none
   */
  reducers?: Reducers<State>;
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
  /** Injected clock (tests). @default the system clock */
  clock?: Clock;
  /** Injected lease store (tests). @default a FileLeaseStore on dataRoot */
  store?: LeaseStore;
  /** Injected file operations of the owner's journal (fault tests: a full disk). @default node:fs */
  journalFs?: JournalFs;
  /** Aborting it closes the instance (gracefully). */
  signal?: AbortSignal;
}

export interface ResolvedJoinOptions {
  dataRoot: string;
  key: LeaseKey;
  name: string;
  timing: LeaseTiming;
  transport: TransportKind;
  heartbeatIntervalMs: number;
  handoverTimeoutMs: number;
  maxPayload: number;
  maxUnauthenticated: number;
  authTimeoutMs: number;
  maxPendingMutations: number;
  maxValueBytes: number;
  snapshotEvery: number;
  reducers: Reducers;
  defaults: { [k: string]: Json } | undefined;
  check: StateCheck | undefined;
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
  const timing = resolveTiming(options);
  const transport = options.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ipc')
    throw new LeaseholdError('EINVALIDCONFIG', `transport must be 'tcp' or 'ipc', got ${String(transport)}`, { field: 'transport' });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.min(1000, Math.floor(timing.ttlMs / 5));
  if (!(heartbeatIntervalMs > 0) || heartbeatIntervalMs * 2 >= timing.ttlMs)
    throw new LeaseholdError(
      'EINVALIDCONFIG',
      `heartbeatIntervalMs (${heartbeatIntervalMs}) must be positive and less than half of ttlMs (${timing.ttlMs}), so a hung owner is noticed inside the ttl`,
      { field: 'heartbeatIntervalMs' },
    );
  const handoverTimeoutMs = options.handoverTimeoutMs ?? Math.floor(timing.ttlMs / 5);
  if (!(handoverTimeoutMs > 0))
    throw new LeaseholdError('EINVALIDCONFIG', `handoverTimeoutMs must be positive`, { field: 'handoverTimeoutMs' });
  const maxPayload = options.maxPayload ?? 1 << 20;
  if (!Number.isSafeInteger(maxPayload) || maxPayload < 1024)
    throw new LeaseholdError('EINVALIDCONFIG', `maxPayload must be an integer ≥ 1024 bytes`, { field: 'maxPayload' });
  const maxUnauthenticated = options.maxUnauthenticated ?? ADMISSION_DEFAULTS.maxUnauthenticated;
  if (!Number.isSafeInteger(maxUnauthenticated) || maxUnauthenticated < 1)
    throw new LeaseholdError('EINVALIDCONFIG', 'maxUnauthenticated must be a positive integer', { field: 'maxUnauthenticated' });
  const authTimeoutMs = options.authTimeoutMs ?? ADMISSION_DEFAULTS.authTimeoutMs;
  if (!(authTimeoutMs > 0) || !Number.isFinite(authTimeoutMs))
    throw new LeaseholdError('EINVALIDCONFIG', 'authTimeoutMs must be a positive number of milliseconds', { field: 'authTimeoutMs' });
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
  const script = process.argv[1] ? basename(process.argv[1]) : 'node';
  const name = options.name ?? `${script} ${process.pid}`;
  if (typeof name !== 'string' || name.length > 128)
    throw new LeaseholdError('EINVALIDCONFIG', 'name is a string of at most 128 characters', { field: 'name' });
  return {
    dataRoot: options.dataRoot,
    key,
    name,
    timing,
    transport,
    heartbeatIntervalMs,
    handoverTimeoutMs,
    maxPayload,
    maxUnauthenticated,
    authTimeoutMs,
    maxPendingMutations,
    maxValueBytes,
    snapshotEvery,
    reducers,
    defaults: defaults as { [k: string]: Json } | undefined,
    check,
    clock: options.clock ?? systemClock,
  };
}
