/**
 * The lease algorithm, written once over a {@link RecordStorage}: both the file store and the memory store
 * are this class with a different storage.
 *
 * Acquire (numbered as in the code):
 *  1. Take the key's mutex (held for one read-modify-write, run synchronously by the file store).
 *  2. Read the record; observe its fingerprint on our monotonic clock.
 *  3. Decide with `assess`: free when missing, released, expired, or its holder's process is gone.
 *  4. Claim epoch n = max(record epoch, newest claimed epoch) + 1 with an exclusive create, and fail with
 *     ECONFLICT if someone else claimed n first: only one contender can win n, even if the mutex was
 *     broken under a stalled process (proper-lockfile #121).
 *  5. Write the record, read it back, release the mutex.
 * Renew: under the mutex, give up (superseded) if a newer epoch has been claimed or the record names one;
 * otherwise rewrite the record. A record that is missing, unreadable or a stale writer's is repaired, after
 * raising the repair count in this epoch's claim (so observers never mistake a second, identical damage
 * for the first one: see Observations).
 *
 * Why the claims, not only the record, decide: a process stopped inside a transaction (SIGSTOP, a laptop
 * lid) can resume after its mutex was broken as stale and write an old record over a newer holder's. Such
 * a record is recognisable: it names an epoch below the newest claim. It is then judged by that claim
 * (its process, its ttl), so a stale "released" can never free a lease that a newer epoch holds.
 */
import type { Clock } from '../clock.js';
import { debug, debugEnabled } from '../debug.js';
import { LeaseholdError, abortError } from '../errors.js';
import { assess, Observations, type Verdict } from './assess.js';
import { HeldLease, type LeaseBackend } from './held-lease.js';
import { fencingToken, forgetHeld, heldKey } from './token.js';
import { LeaseKey } from './key.js';
import { waitForHolderChange } from './observe.js';
import { RECORD_FORMAT, type EpochClaim, type LeaseRecord, type Meta } from './record.js';
import type { AcquireOptions, FencingToken, Lease, LeaseState, LeaseStore, WaitOptions } from './store.js';
import { DEFAULT_TTL_MS, resolveTiming, type LeaseTiming } from './timing.js';
import { randomBytes } from 'node:crypto';
import { currentProcess, type ProcessIdentity } from './process-identity.js';
import type { ReadResult, RecordStorage, Transaction } from './record-storage.js';

export interface RecordStoreOptions {
  clock: Clock;
  /** How often waiters re-read the record and check the holder's process. @default 50 */
  pollIntervalMs?: number;
}

export function newInstanceId(): string {
  return randomBytes(9).toString('base64url');
}

export class RecordLeaseStore implements LeaseStore {
  protected readonly storage: RecordStorage;
  protected readonly clock: Clock;
  readonly #observations: Observations;
  readonly #pollIntervalMs: number;
  readonly #held = new Map<string, HeldLease>();
  #closed = false;

  constructor(storage: RecordStorage, options: RecordStoreOptions) {
    this.storage = storage;
    this.clock = options.clock;
    this.#observations = new Observations(options.clock);
    this.#pollIntervalMs = options.pollIntervalMs ?? 50;
    if (!(this.#pollIntervalMs > 0))
      throw new LeaseholdError('EINVALIDCONFIG', `pollIntervalMs must be positive, got ${this.#pollIntervalMs}`, {
        field: 'pollIntervalMs',
      });
  }

  #assertOpen(): void {
    if (this.#closed) throw new LeaseholdError('ECLOSED', 'this lease store is closed');
  }

  #verdict(key: LeaseKey, read: ReadResult, fallbackTtlMs = DEFAULT_TTL_MS): Verdict {
    const unchangedForMs = this.#observations.observe(String(key), read.record, read.corrupt?.text, read.newest);
    return assess({
      record: read.record,
      corrupt: read.corrupt !== undefined,
      unchangedForMs,
      fallbackTtlMs,
      newest: read.newest,
      isProcessGone: (r) => this.storage.isProcessGone(r),
    });
  }

  async acquire(keyLike: LeaseKey | string, options: AcquireOptions = {}): Promise<Lease> {
    this.#assertOpen();
    const key = LeaseKey.from(keyLike);
    const timing = resolveTiming(options);
    if (options.signal?.aborted) throw abortError(options.signal);
    const instanceId = options.instanceId ?? newInstanceId();
    const startedAt = this.clock.now();
    const me = currentProcess();
    let compromised = false;
    // 1. the mutex
    const record = await this.storage
      .withMutex(key, async (tx) => {
        return this.#acquireIn(tx, key, instanceId, timing, options, me, (c) => (compromised = c));
      })
      .catch(async (err: unknown) => {
        // A mutex that stays busy means others are contending right now: report it as a conflict.
        if (err instanceof LeaseholdError && err.code === 'ETIMEOUT')
          throw new LeaseholdError('ECONFLICT', `lease ${key} is being contended (${err.message})`, {
            key: String(key),
            holder: (await this.storage.read(key).catch(() => undefined))?.record,
            cause: err,
          });
        throw err;
      });
    const lease = new HeldLease({ key, record, startedAt, clock: this.clock, timing, backend: this.#backend(key) });
    this.#held.set(heldKey(key, instanceId), lease);
    if (compromised) {
      // Not released: while this process stalled, the holder it judged expired may have broken the mutex
      // and renewed. Releasing would let a third instance in beside that holder; left as it is, the new
      // claim supersedes that holder at its next renewal, and the unrenewed record frees after a ttl.
      lease.abandon('compromised');
      throw new LeaseholdError(
        'ECONFLICT',
        `lease ${key}: the store's lock was broken during acquisition (this process stalled); try again`,
        {
          key: String(key),
        },
      );
    }
    if (this.#closed) {
      await lease.release();
      throw new LeaseholdError('ECLOSED', 'this lease store was closed during acquisition');
    }
    return lease;
  }

  async #acquireIn(
    tx: Transaction,
    key: LeaseKey,
    instanceId: string,
    timing: LeaseTiming,
    options: AcquireOptions,
    me: ProcessIdentity,
    setCompromised: (c: boolean) => void,
  ): Promise<LeaseRecord> {
    // 2. read and observe
    const cur = await tx.read();
    if (cur.corrupt?.error.code === 'EFORMAT') throw cur.corrupt.error;
    // 3. decide
    // An unreadable record has no ttl of its own: it blocks for the acquirer's ttl at most.
    const verdict = this.#verdict(key, cur, timing.ttlMs);
    if (!verdict.free) {
      const holder = cur.record;
      const why =
        verdict.reason === 'corrupt'
          ? `its record is unreadable (${cur.corrupt!.error.message})`
          : verdict.reason === 'claimed'
            ? `epoch ${cur.newest.epoch} was claimed by ${cur.newest.claim?.instanceId ?? 'an unknown instance'}, newer than its record`
            : verdict.reason === 'pinned'
              ? `it is pinned by ${holder!.pins.join(', ')}`
              : `instance ${holder!.instanceId} (pid ${holder!.pid}) holds epoch ${holder!.epoch}`;
      throw new LeaseholdError('ECONFLICT', `lease ${key} is held: ${why}; follow the holder or wait with waitUntilReleased()`, {
        key: String(key),
        holder,
      });
    }
    if (debugEnabled)
      debug(
        `${instanceId} takes ${key} (${verdict.reason}) from ${cur.record ? `${cur.record.instanceId}/${cur.record.epoch} pid ${cur.record.pid} renewals ${cur.record.renewals}` : 'nobody'}`,
      );
    // 4. claim the next epoch: exactly one contender that saw the same state wins it
    const epoch = Math.max(cur.record?.epoch ?? 0, cur.newest.epoch) + 1;
    const claim: EpochClaim = { instanceId, process: { pid: me.pid, processStart: me.start, host: me.host }, ttlMs: timing.ttlMs };
    if (!(await tx.claimEpoch(epoch, claim)))
      throw new LeaseholdError('ECONFLICT', `lease ${key}: epoch ${epoch} was claimed by another contender first`, { key: String(key) });
    // 5. write and read back
    const wall = this.clock.wallNow();
    const next: LeaseRecord = {
      format: RECORD_FORMAT,
      key: String(key),
      instanceId,
      epoch,
      pid: me.pid,
      processStart: me.start,
      host: me.host,
      acquiredAt: wall,
      renewedAt: wall,
      renewals: 0,
      ttlMs: timing.ttlMs,
      renewIntervalMs: timing.renewIntervalMs,
      releasedAt: null,
      pins: cur.record && cur.record.releasedAt === null ? [...cur.record.pins] : [],
      meta: { ...(options.meta ?? {}) },
    };
    await tx.write(next);
    const back = await tx.read();
    if (back.record?.instanceId !== instanceId || back.record.epoch !== epoch)
      throw new LeaseholdError('ECONFLICT', `lease ${key}: the record was overwritten during acquisition`, {
        key: String(key),
        holder: back.record,
      });
    setCompromised(tx.compromised());
    return next;
  }

  #backend(key: LeaseKey): LeaseBackend {
    const renewLike = (current: LeaseRecord, meta?: Meta) =>
      this.storage.withMutex(key, async (tx) => {
        const superseded = (why: string) =>
          new LeaseholdError('ELOST', `lease ${key} (epoch ${current.epoch}) was superseded: ${why}`, {
            reason: 'superseded',
            key: String(key),
          });
        const cur = await tx.read();
        const { newest } = cur;
        if (newest.epoch > current.epoch)
          throw superseded(`epoch ${newest.epoch} was claimed by ${newest.claim?.instanceId ?? 'an unknown instance'}`);
        if (cur.corrupt?.error.code === 'EFORMAT') throw superseded('a newer leasehold wrote the record');
        const r = cur.record;
        if (r && (r.epoch > current.epoch || (r.epoch === current.epoch && r.instanceId !== current.instanceId)))
          throw superseded(`the record names ${r.instanceId} at epoch ${r.epoch}`);
        if (r && r.epoch === current.epoch && r.releasedAt !== null) throw superseded('the record was released');
        if (newest.epoch === current.epoch && newest.claim !== undefined && newest.claim.instanceId !== current.instanceId)
          throw superseded(`epoch ${current.epoch} is claimed by ${newest.claim.instanceId}`);
        if (!r || cur.corrupt !== undefined || r.epoch !== current.epoch) {
          const mine = newest.epoch === current.epoch ? newest.claim : undefined;
          await tx.rewriteClaim(current.epoch, {
            ...(mine ?? {
              instanceId: current.instanceId,
              process: { pid: current.pid, processStart: current.processStart, host: current.host },
              ttlMs: current.ttlMs,
            }),
            repairs: (mine?.repairs ?? 0) + 1,
          });
        }
        const next: LeaseRecord = {
          ...current,
          renewedAt: this.clock.wallNow(),
          renewals: current.renewals + 1,
          pins: r && r.epoch === current.epoch ? [...r.pins] : current.pins,
          meta: meta ? { ...meta } : current.meta,
        };
        await tx.write(next);
        if (tx.compromised())
          throw new LeaseholdError('ELOST', `lease ${key}: the store's lock was broken while renewing`, {
            reason: 'compromised',
            key: String(key),
          });
        return next;
      });
    return {
      renew: (current) => renewLike(current),
      updateMeta: (current, meta) => renewLike(current, meta),
      release: (current) =>
        this.storage.withMutex(key, async (tx) => {
          const cur = await tx.read();
          const r = cur.record;
          if (cur.newest.epoch > current.epoch) return; // superseded: never mark a newer holder's lease released
          if (!r || r.instanceId !== current.instanceId || r.epoch !== current.epoch || r.releasedAt !== null) return;
          await tx.write({ ...r, releasedAt: this.clock.wallNow(), renewals: r.renewals + 1 });
        }),
      ended: (lease) => forgetHeld(this.#held, lease),
    };
  }

  async inspect(key: LeaseKey | string): Promise<LeaseRecord | undefined> {
    const state = await this.describe(key);
    return state.state === 'held' ? state.record : undefined;
  }

  async describe(keyLike: LeaseKey | string): Promise<LeaseState> {
    this.#assertOpen();
    const key = LeaseKey.from(keyLike);
    const cur = await this.storage.read(key);
    if (cur.corrupt?.error.code === 'EFORMAT') throw cur.corrupt.error;
    const verdict = this.#verdict(key, cur);
    if (cur.corrupt && !verdict.free)
      return { state: 'unknown', reason: 'corrupt', path: cur.corrupt.error.path ?? '', message: cur.corrupt.error.message };
    if (verdict.reason === 'claimed')
      return {
        state: 'unknown',
        reason: 'claimed',
        epoch: cur.newest.epoch,
        instanceId: cur.newest.claim?.instanceId,
        ...(cur.record ? { record: cur.record } : {}),
        message: `epoch ${cur.newest.epoch} was claimed by ${cur.newest.claim?.instanceId ?? 'an unknown instance'} but the record names ${cur.record ? `epoch ${cur.record.epoch}` : 'nobody'}; it settles when that holder renews or its ttl passes`,
      };
    if (verdict.free)
      return cur.record ? { state: 'free', reason: verdict.reason, record: cur.record } : { state: 'free', reason: verdict.reason };
    return { state: 'held', record: cur.record! };
  }

  async waitUntilReleased(keyLike: LeaseKey | string, options: WaitOptions = {}): Promise<void> {
    this.#assertOpen();
    await waitForHolderChange(this, LeaseKey.from(keyLike), {
      clock: this.clock,
      pollIntervalMs: options.pollIntervalMs ?? this.#pollIntervalMs,
      signal: options.signal,
    });
  }

  watch(keyLike: LeaseKey | string, onChange: () => void): () => void {
    return this.storage.watch(LeaseKey.from(keyLike), onChange);
  }

  token(keyLike: LeaseKey | string, instanceId: string): FencingToken {
    return fencingToken(LeaseKey.from(keyLike), instanceId, this.#held, async (lease) => {
      const cur = await this.storage.read(lease.key);
      const r = cur.record;
      return (
        r !== undefined &&
        r.instanceId === instanceId &&
        r.epoch === lease.epoch &&
        r.releasedAt === null &&
        cur.newest.epoch <= lease.epoch
      );
    });
  }

  async pin(keyLike: LeaseKey | string, entity: string): Promise<void> {
    await this.#editPins(keyLike, entity, (pins) => (pins.includes(entity) ? pins : [...pins, entity]));
  }

  async unpin(keyLike: LeaseKey | string, entity: string): Promise<void> {
    await this.#editPins(keyLike, entity, (pins) => pins.filter((p) => p !== entity));
  }

  async #editPins(keyLike: LeaseKey | string, entity: string, edit: (pins: string[]) => string[]): Promise<void> {
    this.#assertOpen();
    const key = LeaseKey.from(keyLike);
    if (typeof entity !== 'string' || entity.length === 0)
      throw new LeaseholdError('EINVALIDCONFIG', 'a pin entity is a non-empty string', { field: 'entity' });
    await this.storage.withMutex(key, async (tx) => {
      const cur = await tx.read();
      if (cur.corrupt) throw cur.corrupt.error;
      if (!cur.record || cur.record.releasedAt !== null)
        throw new LeaseholdError('ENOTHELD', `lease ${key} is not held: there is nothing to pin`, { key: String(key) });
      const pins = edit(cur.record.pins);
      if (pins.length === cur.record.pins.length && pins.every((p, i) => p === cur.record!.pins[i])) return;
      await tx.write({ ...cur.record, pins });
    });
  }

  async pinned(): Promise<Record<string, string[]>> {
    this.#assertOpen();
    const out: Record<string, string[]> = {};
    for (const key of await this.storage.keys()) {
      const { record } = await this.storage.read(key);
      if (record && record.releasedAt === null && record.pins.length > 0) out[String(key)] = [...record.pins];
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const leases = [...this.#held.values()];
    await Promise.all(leases.map((l) => l.release().catch(() => undefined)));
    await this.storage.close();
  }
}
