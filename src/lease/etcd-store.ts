/**
 * EtcdLeaseStore: the lease contract (store.ts) on etcd v3, for instances on several machines. Import it
 * from `leasehold/etcd`; it needs the `etcd3` package, which it does not install.
 *
 * Mapping, per lease key K (under `prefix`):
 *  - `<prefix>/.lock<K>`: the lock. Created only if absent, in one transaction with the record, both
 *    attached to an etcd lease of ceil(ttlMs / 1000) s (etcd may grant more: its minimum is about 1.5 ×
 *    its election timeout). The epoch is the lock's create revision: etcd's revision rises with every
 *    write to the cluster, so epochs rise at every acquisition and are never reused, but not by one. The
 *    key is held exactly while the lock exists: etcd deletes it with the lease.
 *  - `<prefix><K>`: the record (JSON), the advertisement. A record deleted, damaged or overwritten by a
 *    stale writer never frees the key (the lock does not change) and is written again by the holder's next
 *    renewal, guarded by the lock's create revision.
 *  - `<prefix>/.released<K>`: the note of the last release, so that observers tell a release from a lapse.
 *  - check(): the holder's own deadline (held-lease.ts): a keepalive that starts at t makes the lease valid
 *    until t + ttlMs − safety margin, before etcd (which counts its ttl from when it got the keepalive, and
 *    whose ttl is at least ours) can expire it. Loss is reported from that deadline, never when the etcd
 *    client notices (which can be two ttls late, etcd3 issue #155).
 *  - renew: one keepalive, then a read of lock and record: the lock gone or of another create revision
 *    ends the lease ('superseded').
 *  - release: the lock and the record deleted and the note written in one transaction guarded by the
 *    lock's create revision, then the etcd lease revoked.
 *  - a holder on this machine (same boot id: Linux) whose process is gone and that nobody pins is taken
 *    over at once; any other only when etcd expires its lease (after its ttl, or later when etcd's leader
 *    changes: etcd then extends every lease).
 *  - pins live in the record; the store that pins a key keeps its etcd lease alive (a keepalive every
 *    renew interval of the record, at most 10 s) until it unpins, the key goes, or the store closes: a pin
 *    lasts as long as the process that made it.
 * Every call to etcd has a deadline (callTimeoutMs, and at most the ttl for a holder's calls), so a member
 * that stopped answering blocks nothing for long. Not guaranteed: anything while this process cannot reach
 * a quorum of etcd (its leases then end at their deadlines, 'expired' or 'io'); that the record names the
 * holder between a stale write and the holder's next renewal; a lock deleted by hand (`etcdctl del`)
 * frees the key at once, and its holder learns it at its next renewal (as deleting the file store's key
 * directory would).
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, IKeyValue, IRequestOp, Watcher } from 'etcd3';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { debug, debugEnabled } from '../debug.js';
import { LeaseholdError, abortError } from '../errors.js';
import { HeldLease, type LeaseBackend } from './held-lease.js';
import { LeaseKey } from './key.js';
import { waitForHolderChange } from './observe.js';
import { bootId as thisMachine, currentProcess, isProcessGone } from './process-identity.js';
import { RECORD_FORMAT, recordProblem, type LeaseRecord, type Meta } from './record.js';
import type { AcquireOptions, FencingToken, Lease, LeaseState, LeaseStore, WaitOptions } from './store.js';
import { resolveTiming } from './timing.js';
import { fencingToken, forgetHeld, heldKey } from './token.js';

export interface EtcdLeaseStoreOptions {
  /** The etcd3 client to use (its hosts, credentials and TLS are yours); the store never closes it. */
  client: Etcd3;
  /** The prefix of every key this store writes. @default '/leasehold' */
  prefix?: string;
  /** @default systemClock */
  clock?: Clock;
  /** How often waitUntilReleased() reads the key besides etcd's watch. @default 250 */
  pollIntervalMs?: number;
  /** The longest any call to etcd may take (a holder's calls: at most its ttl). @default 5000 */
  callTimeoutMs?: number;
}

/** The record as stored: the etcd lease that keeps it, and the machine it was written on. */
type Stored = LeaseRecord & { etcdLease: string; machine: string | null };

/** Longest ttl and renew interval a record may name (longer ones are damage, not a holder's timing). */
const MAX_TTL_MS = 24 * 60 * 60 * 1000;
/** Pin keepalives: at most this far apart, whatever the record says. */
const MAX_PIN_KEEPALIVE_MS = 10_000;
const MIN_PIN_KEEPALIVE_MS = 100;

/** What etcd holds for a key: its lock, and its record as it relates to that lock. */
interface Seen {
  lock?: IKeyValue;
  /** The lock's instance, when the lock holds one. */
  lockedBy?: string;
  recordKv?: IKeyValue;
  /** The record, with the lock's epoch, when it is the lock holder's. */
  record?: Stored;
  /** Why the record is not the lock holder's (missing, unreadable, a stale writer's); with a lock only. */
  damage?: string;
  released: boolean;
}

export class EtcdLeaseStore implements LeaseStore {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  readonly #callTimeoutMs: number;
  readonly #held = new Map<string, HeldLease>();
  /** Pins this store keeps alive: key → entities, and the keepalive timer. */
  readonly #pins = new Map<string, { entities: Set<string>; timer?: Timer }>();
  #closed = false;

  constructor(options: EtcdLeaseStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? '/leasehold';
    this.#clock = options.clock ?? systemClock;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    this.#callTimeoutMs = options.callTimeoutMs ?? 5000;
    if (!/^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(this.#prefix))
      throw new LeaseholdError('EINVALIDCONFIG', `prefix must look like /a/b, got ${JSON.stringify(this.#prefix)}`, { field: 'prefix' });
    if (!(this.#callTimeoutMs > 0))
      throw new LeaseholdError('EINVALIDCONFIG', `callTimeoutMs must be positive, got ${this.#callTimeoutMs}`, { field: 'callTimeoutMs' });
  }

  #recordPath(key: LeaseKey): Buffer {
    return Buffer.from(`${this.#prefix}${key}`);
  }
  #lockPath(key: LeaseKey): Buffer {
    return Buffer.from(`${this.#prefix}/.lock${key}`);
  }
  #notePath(key: LeaseKey): Buffer {
    return Buffer.from(`${this.#prefix}/.released${key}`);
  }

  /** gRPC options: a deadline `ms` from now on the real wall clock (gRPC deadlines are wall-clock times). */
  #within(ms = this.#callTimeoutMs): { deadline: number } {
    return { deadline: systemClock.wallNow() + Math.min(ms, this.#callTimeoutMs) };
  }

  #assertOpen(): void {
    if (this.#closed) throw new LeaseholdError('ECLOSED', 'this lease store is closed');
  }

  /** Lock, record and release note of `key`, in one round trip. */
  async #see(key: LeaseKey, withinMs?: number): Promise<Seen> {
    const res = await this.#client.kv
      .txn(
        {
          success: [
            { request_range: { key: this.#lockPath(key) } },
            { request_range: { key: this.#recordPath(key) } },
            { request_range: { key: this.#notePath(key) } },
          ],
        },
        this.#within(withinMs),
      )
      .catch(ioFailure(`read lease ${key} from etcd`));
    const kvs = (i: number) => res.responses[i]?.response_range?.kvs ?? [];
    return interpret(kvs(0)[0], kvs(1)[0], kvs(2).length > 0);
  }

  async acquire(keyLike: LeaseKey | string, options: AcquireOptions = {}): Promise<Lease> {
    this.#assertOpen();
    const key = LeaseKey.from(keyLike);
    const timing = resolveTiming(options);
    if (options.signal?.aborted) throw abortError(options.signal);
    const instanceId = options.instanceId ?? randomBytes(9).toString('base64url');
    const startedAt = this.#clock.now();
    // The read and the grant at once: each is a round trip (the grant a raft write); a lease granted for
    // nothing is revoked, or expires by itself.
    const [read, grant] = await Promise.allSettled([
      this.#see(key),
      this.#client.leaseClient
        .leaseGrant({ TTL: Math.ceil(timing.ttlMs / 1000) }, this.#within())
        .catch(ioFailure(`grant an etcd lease for ${key}`)),
    ]);
    if (grant.status === 'rejected') throw grant.reason;
    const granted = grant.value;
    const giveUp = async (err: unknown): Promise<never> => {
      await this.#revoke(granted.ID);
      throw err;
    };
    if (read.status === 'rejected') return giveUp(read.reason);
    const seen = read.value;
    if (seen.lock && !(await this.#tookOver(key, seen).catch(giveUp))) return giveUp(conflict(key, seen));
    const me = currentProcess();
    const wall = this.#clock.wallNow();
    const record: Stored = {
      format: RECORD_FORMAT,
      key: String(key),
      instanceId,
      epoch: 0, // the lock's create revision: known once it exists
      pid: me.pid,
      processStart: me.start,
      host: me.host,
      acquiredAt: wall,
      renewedAt: wall,
      renewals: 0,
      ttlMs: timing.ttlMs,
      renewIntervalMs: timing.renewIntervalMs,
      releasedAt: null,
      pins: [],
      meta: { ...(options.meta ?? {}) },
      etcdLease: granted.ID,
      machine: thisMachine(),
    };
    const lockPath = this.#lockPath(key);
    const txn = await this.#client.kv
      .txn(
        {
          compare: [{ key: lockPath, target: 'Create', result: 'Equal', create_revision: '0' }],
          success: [
            { request_put: { key: lockPath, value: Buffer.from(JSON.stringify({ instanceId })), lease: granted.ID } },
            putRecord(this.#recordPath(key), record),
            { request_delete_range: { key: this.#notePath(key) } },
          ],
        },
        this.#within(),
      )
      .catch((err: unknown) => giveUp(ioFailure(`acquire lease ${key} in etcd`)(err)));
    if (!txn.succeeded) return giveUp(conflict(key, await this.#see(key).catch(() => ({ released: false }) as Seen)));
    const held: Stored = { ...record, epoch: Number(txn.header.revision) };
    if (debugEnabled) debug(`${instanceId} takes ${key} at epoch ${held.epoch} (etcd lease ${granted.ID}, ttl ${granted.TTL} s)`);
    const lease = new HeldLease({ key, record: held, startedAt, clock: this.#clock, timing, backend: this.#backend(key) });
    this.#held.set(heldKey(key, instanceId), lease);
    if (this.#closed) {
      await lease.release();
      throw new LeaseholdError('ECLOSED', 'this lease store was closed during acquisition');
    }
    return lease;
  }

  /**
   * Frees a key whose holder is gone: its record names a process of this machine (same boot id) that no
   * longer runs, and nobody pins it. True when the lock was deleted (guarded by its create revision).
   */
  async #tookOver(key: LeaseKey, seen: Seen): Promise<boolean> {
    const r = seen.record;
    const mine = thisMachine();
    if (!r || seen.damage !== undefined || r.pins.length > 0 || mine === null || r.machine !== mine || !isProcessGone(r)) return false;
    const txn = await this.#client.kv
      .txn(
        {
          compare: [{ key: this.#lockPath(key), target: 'Create', result: 'Equal', create_revision: seen.lock!.create_revision }],
          success: [{ request_delete_range: { key: this.#lockPath(key) } }, { request_delete_range: { key: this.#recordPath(key) } }],
        },
        this.#within(),
      )
      .catch(ioFailure(`take lease ${key} over in etcd`));
    if (!txn.succeeded) return false;
    if (debugEnabled) debug(`${key}: holder ${r.instanceId} (pid ${r.pid}) is gone: its lock deleted`);
    void this.#revoke(r.etcdLease); // the lock is gone: nobody waits for its lease to go too
    return true;
  }

  async #revoke(id: string): Promise<void> {
    await this.#client.leaseClient.leaseRevoke({ ID: id }, this.#within()).catch(() => undefined); // already gone: nothing to do
  }

  /**
   * One keepalive of etcd lease `id`: the ttl etcd granted again (0 or less: the lease no longer exists).
   * Given up after `withinMs`; a stream that ends without an answer is an error.
   */
  async #keepAlive(id: string, withinMs: number): Promise<number> {
    const stream = await this.#client.leaseClient.leaseKeepAlive(this.#within(withinMs));
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('the keepalive stream ended without an answer')));
        stream.write({ ID: id });
      });
      return Number(res.TTL);
    } finally {
      stream.end();
    }
  }

  #backend(key: LeaseKey): LeaseBackend {
    const superseded = (current: LeaseRecord, why: string) =>
      new LeaseholdError('ELOST', `lease ${key} (epoch ${current.epoch}) was superseded: ${why}`, {
        reason: 'superseded',
        key: String(key),
      });
    /** Reads lock and record; throws 'superseded' unless the lock is still this holder's. */
    const mine = async (current: Stored): Promise<Seen> => {
      const seen = await this.#see(key, current.ttlMs);
      if (!seen.lock || seen.lock.create_revision !== String(current.epoch)) throw superseded(current, 'its lock was deleted or taken');
      return seen;
    };
    /**
     * Writes `next` (with the pins stored now) over the record as `seen`, guarded by the lock's create
     * revision and the record's mod revision; read again and retried when the record changed meanwhile.
     */
    const write = async (current: Stored, next: (pins: string[]) => Stored, seenFirst?: Seen): Promise<Stored> => {
      let seen = seenFirst ?? (await mine(current));
      for (let attempt = 0; ; attempt++) {
        const out = next(seen.record ? [...seen.record.pins] : current.pins);
        const recordPath = this.#recordPath(key);
        const txn = await this.#client.kv
          .txn(
            {
              compare: [
                { key: this.#lockPath(key), target: 'Create', result: 'Equal', create_revision: String(current.epoch) },
                seen.recordKv
                  ? { key: recordPath, target: 'Mod', result: 'Equal', mod_revision: seen.recordKv.mod_revision }
                  : { key: recordPath, target: 'Create', result: 'Equal', create_revision: '0' },
              ],
              success: [putRecord(recordPath, out)],
            },
            this.#within(current.ttlMs),
          )
          .catch(ioFailure(`write lease ${key} to etcd`));
        if (txn.succeeded) return out;
        if (attempt >= 3)
          throw new LeaseholdError('EIO', `lease ${key}: its record kept changing while it was written`, { key: String(key) });
        seen = await mine(current);
      }
    };
    return {
      renew: async (currentRecord) => {
        const current = currentRecord as Stored;
        const ttl = await this.#keepAlive(current.etcdLease, current.ttlMs).catch(ioFailure(`renew lease ${key} in etcd`));
        if (ttl <= 0) throw superseded(current, `etcd lease ${current.etcdLease} expired`);
        const seen = await mine(current);
        const next = (pins: string[]): Stored => ({ ...current, renewedAt: this.#clock.wallNow(), renewals: current.renewals + 1, pins });
        // Deleted, damaged, or overwritten by a stale writer: write ours again.
        if (seen.damage !== undefined) return write(current, next, seen);
        return next([...seen.record!.pins]);
      },
      updateMeta: (currentRecord, meta: Meta) => {
        const current = currentRecord as Stored;
        return write(current, (pins) => ({ ...current, renewedAt: this.#clock.wallNow(), meta: { ...meta }, pins }));
      },
      release: async (currentRecord) => {
        const current = currentRecord as Stored;
        const note = { epoch: current.epoch, instanceId: current.instanceId, at: this.#clock.wallNow() };
        await this.#client.kv
          .txn(
            {
              compare: [{ key: this.#lockPath(key), target: 'Create', result: 'Equal', create_revision: String(current.epoch) }],
              success: [
                { request_delete_range: { key: this.#lockPath(key) } },
                { request_delete_range: { key: this.#recordPath(key) } },
                { request_put: { key: this.#notePath(key), value: Buffer.from(JSON.stringify(note)) } },
              ],
            },
            this.#within(current.ttlMs),
          )
          .catch(ioFailure(`release lease ${key} in etcd`));
        await this.#revoke(current.etcdLease);
      },
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
    const seen = await this.#see(key);
    if (!seen.lock) return { state: 'free', reason: seen.released ? 'released' : 'none' };
    const epoch = Number(seen.lock.create_revision);
    if (seen.damage !== undefined)
      return {
        state: 'unknown',
        reason: 'claimed',
        epoch,
        ...(seen.lockedBy !== undefined ? { instanceId: seen.lockedBy } : {}),
        message: `lease ${key} is locked at epoch ${epoch}${seen.lockedBy ? ` by ${seen.lockedBy}` : ''}, but ${seen.damage}; it settles when that holder renews or its etcd lease ends`,
      };
    const r = seen.record!;
    if (r.machine !== null && r.machine === thisMachine() && r.pins.length === 0 && isProcessGone(r))
      return { state: 'free', reason: 'holder-gone', record: r };
    return { state: 'held', record: r };
  }

  async waitUntilReleased(keyLike: LeaseKey | string, options: WaitOptions = {}): Promise<void> {
    this.#assertOpen();
    await waitForHolderChange(this, LeaseKey.from(keyLike), {
      clock: this.#clock,
      pollIntervalMs: options.pollIntervalMs ?? this.#pollIntervalMs,
      signal: options.signal,
    });
  }

  watch(keyLike: LeaseKey | string, onChange: () => void): () => void {
    const key = LeaseKey.from(keyLike);
    let stopped = false;
    const watchers: Watcher[] = [];
    // The lock (a new holder) and the record (its meta), from the current revision on, and again after a
    // reconnection ('connected'): a change missed meanwhile is seen by the caller's next read (the
    // contract asks callers to re-read now and then).
    for (const path of [this.#lockPath(key), this.#recordPath(key)])
      void this.#client
        .watch()
        .key(path)
        .create()
        .then(
          (w) => {
            if (stopped) return void w.cancel().catch(() => undefined);
            watchers.push(w);
            w.on('put', onChange);
            w.on('delete', onChange);
            w.on('connected', onChange);
            w.on('error', () => undefined); // the client reconnects on its own; reads cover the gap
          },
          () => undefined,
        );
    return () => {
      stopped = true;
      for (const w of watchers) void w.cancel().catch(() => undefined);
    };
  }

  token(keyLike: LeaseKey | string, instanceId: string): FencingToken {
    return fencingToken(LeaseKey.from(keyLike), instanceId, this.#held, async (lease) => {
      const seen = await this.#see(lease.key);
      return seen.lock?.create_revision === String(lease.epoch) && seen.damage === undefined && seen.record?.instanceId === instanceId;
    });
  }

  async pin(keyLike: LeaseKey | string, entity: string): Promise<void> {
    const key = LeaseKey.from(keyLike);
    await this.#editPins(key, entity, (pins) => (pins.includes(entity) ? pins : [...pins, entity]));
    const k = String(key);
    const mine = this.#pins.get(k) ?? { entities: new Set<string>() };
    mine.entities.add(entity);
    this.#pins.set(k, mine);
    if (!mine.timer) this.#keepPinned(key, mine, 0);
  }

  async unpin(keyLike: LeaseKey | string, entity: string): Promise<void> {
    const key = LeaseKey.from(keyLike);
    const mine = this.#pins.get(String(key));
    mine?.entities.delete(entity);
    if (mine && mine.entities.size === 0) {
      mine.timer?.cancel();
      this.#pins.delete(String(key));
    }
    await this.#editPins(key, entity, (pins) => pins.filter((p) => p !== entity));
  }

  /** Keeps the etcd lease of a key this store pinned alive while its pins last (a failed read retries). */
  #keepPinned(key: LeaseKey, mine: { entities: Set<string>; timer?: Timer }, inMs: number): void {
    const live = () => !this.#closed && this.#pins.get(String(key)) === mine;
    mine.timer = this.#clock.setTimeout(() => {
      void (async () => {
        if (!live()) return;
        let every = MAX_PIN_KEEPALIVE_MS;
        try {
          const seen = await this.#see(key);
          if (!live()) return;
          const r = seen.record;
          if (!seen.lock || (seen.damage === undefined && ![...mine.entities].some((e) => r!.pins.includes(e)))) {
            this.#pins.delete(String(key)); // the key went, or our pins did: nothing of ours to keep
            return;
          }
          // A damaged record (its holder rewrites it) says nothing of the pins: keep the lock alive meanwhile.
          every =
            r && seen.damage === undefined
              ? Math.min(MAX_PIN_KEEPALIVE_MS, Math.max(MIN_PIN_KEEPALIVE_MS, r.renewIntervalMs))
              : MIN_PIN_KEEPALIVE_MS * 5;
          await this.#keepAlive(seen.lock.lease, this.#callTimeoutMs);
        } catch {
          every = MIN_PIN_KEEPALIVE_MS * 5; // etcd did not answer: try again soon
        }
        if (live()) this.#keepPinned(key, mine, every);
      })();
    }, inMs);
  }

  async #editPins(key: LeaseKey, entity: string, edit: (pins: string[]) => string[]): Promise<void> {
    this.#assertOpen();
    if (typeof entity !== 'string' || entity.length === 0)
      throw new LeaseholdError('EINVALIDCONFIG', 'a pin entity is a non-empty string', { field: 'entity' });
    for (;;) {
      const seen = await this.#see(key);
      if (!seen.lock || !seen.record || !seen.recordKv)
        throw new LeaseholdError('ENOTHELD', `lease ${key} is not held: there is nothing to pin`, { key: String(key) });
      const r = seen.record;
      const pins = edit(r.pins);
      if (pins.length === r.pins.length && pins.every((p, i) => p === r.pins[i])) return;
      const recordPath = this.#recordPath(key);
      const txn = await this.#client.kv
        .txn(
          {
            compare: [
              { key: this.#lockPath(key), target: 'Create', result: 'Equal', create_revision: seen.lock.create_revision },
              { key: recordPath, target: 'Mod', result: 'Equal', mod_revision: seen.recordKv.mod_revision },
            ],
            success: [putRecord(recordPath, { ...r, pins })],
          },
          this.#within(),
        )
        .catch(ioFailure(`pin lease ${key} in etcd`));
      if (txn.succeeded) return;
    }
  }

  async pinned(): Promise<Record<string, string[]>> {
    this.#assertOpen();
    // Every lock under the prefix, then the records of the locked keys.
    const start = Buffer.from(`${this.#prefix}/.lock/`);
    const end = Buffer.from(`${this.#prefix}/.lock0`); // '0' follows '/': every key under /.lock/
    const locks = await this.#client.kv
      .range({ key: start, range_end: end, keys_only: true }, this.#within())
      .catch(ioFailure('list leases in etcd'));
    const out: Record<string, string[]> = {};
    for (const kv of locks.kvs) {
      const name = kv.key.toString().slice(`${this.#prefix}/.lock`.length);
      let key: LeaseKey;
      try {
        key = LeaseKey.parse(name);
      } catch {
        continue; // not a key of ours
      }
      const seen = await this.#see(key);
      if (seen.record && seen.damage === undefined && seen.record.pins.length > 0) out[name] = [...seen.record.pins];
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pins.values()) p.timer?.cancel();
    this.#pins.clear();
    await Promise.all([...this.#held.values()].map((l) => l.release().catch(() => undefined)));
  }
}

/** The request that writes `record` (its epoch a placeholder: the lock's create revision is the epoch). */
function putRecord(path: Buffer, record: Stored): IRequestOp {
  return { request_put: { key: path, value: Buffer.from(JSON.stringify({ ...record, epoch: 0 })), lease: record.etcdLease } };
}

/** What lock, record and note say together. Values are untrusted: anything unexpected is damage. */
function interpret(lock: IKeyValue | undefined, recordKv: IKeyValue | undefined, released: boolean): Seen {
  if (!lock) return { released, ...(recordKv ? { recordKv } : {}) };
  let lockedBy: string | undefined;
  try {
    const v = JSON.parse(lock.value.toString('utf8')) as { instanceId?: unknown };
    if (typeof v?.instanceId === 'string') lockedBy = v.instanceId;
  } catch {
    // a lock we did not write: its record decides nothing either
  }
  const seen: Seen = { lock, released, ...(lockedBy !== undefined ? { lockedBy } : {}), ...(recordKv ? { recordKv } : {}) };
  if (!recordKv) return { ...seen, damage: 'its record is missing' };
  let value: unknown;
  try {
    value = JSON.parse(recordKv.value.toString('utf8'));
  } catch {
    return { ...seen, damage: 'its record is unreadable (not JSON)' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ...seen, damage: 'its record is unreadable (not an object)' };
  // The stored epoch is a placeholder: a record's epoch is its lock's create revision.
  const record = { ...(value as Stored), epoch: Number(lock.create_revision) };
  const bad =
    recordProblem(record) ??
    (typeof record.etcdLease !== 'string' ? 'etcdLease' : undefined) ??
    (record.machine !== null && typeof record.machine !== 'string' ? 'machine' : undefined) ??
    (record.ttlMs > MAX_TTL_MS ? 'ttlMs' : undefined) ??
    (record.renewIntervalMs > record.ttlMs ? 'renewIntervalMs' : undefined);
  if (bad !== undefined) return { ...seen, damage: `its record is unreadable (bad field "${bad}")` };
  if (record.etcdLease !== lock.lease || recordKv.lease !== lock.lease || record.instanceId !== lockedBy)
    return { ...seen, record, damage: `its record names instance ${record.instanceId}, not the lock's holder (a stale write)` };
  return { ...seen, record };
}

function conflict(key: LeaseKey, seen: Seen): LeaseholdError {
  const holder = seen.damage === undefined ? seen.record : undefined;
  const why =
    seen.damage !== undefined
      ? `it is locked${seen.lockedBy ? ` by ${seen.lockedBy}` : ''}, but ${seen.damage}; it settles when that holder renews or its etcd lease ends`
      : holder && holder.pins.length > 0
        ? `it is pinned by ${holder.pins.join(', ')}`
        : holder
          ? `instance ${holder.instanceId} (pid ${holder.pid} on ${holder.host}) holds epoch ${holder.epoch}`
          : 'another instance acquired it first';
  return new LeaseholdError('ECONFLICT', `lease ${key} is held: ${why}; follow the holder or wait with waitUntilReleased()`, {
    key: String(key),
    holder,
  });
}

/** etcd's errors as EIO (retried by a held lease until its deadline), naming what failed. */
function ioFailure(what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof LeaseholdError) throw err;
    throw new LeaseholdError('EIO', `cannot ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  };
}
