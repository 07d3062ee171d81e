/**
 * EtcdLeaseStore: the lease contract (store.ts) on etcd v3, for instances on several machines. Import it
 * from `leasehold/etcd`; it needs the `etcd3` package, which it does not install.
 *
 * Mapping (one key per lease, `<prefix><key>`, holding the lease record as JSON):
 *  - acquire: grant an etcd lease of ceil(ttlMs / 1000) s (etcd may grant more: its minimum is about
 *    1.5 × its election timeout), then create the key attached to it in one transaction that succeeds only
 *    if the key does not exist. The epoch is the key's create revision: etcd's revision rises with every
 *    write to the cluster, so epochs rise at every acquisition and are never reused, but not by one.
 *  - check(): the holder's own deadline (held-lease.ts): a keepalive that starts at t makes the lease valid
 *    until t + ttlMs − safety margin, before etcd (which counts its ttl from when it got the keepalive, and
 *    whose ttl is at least ours) can expire it. A lost lease is reported from that deadline, not when the
 *    etcd client notices (which can be up to two ttls late, etcd3 issue #155).
 *  - renew: one keepalive, then a linearizable read of the key: gone or of another create revision ends
 *    the lease ('superseded'); a record someone overwrote (a stale writer, a put without the lease) is
 *    written again, guarded by the create revision.
 *  - release: delete the key guarded by its create revision and note the release beside it in the same
 *    transaction (so that observers can tell a release from an expiry), then revoke the etcd lease.
 *  - a holder on this machine whose process is gone is taken over at once (its key deleted, guarded by its
 *    create revision); one on another machine, only when etcd expires its lease (after its ttl, or later
 *    when etcd's leader changes: etcd then extends every lease).
 *  - a key that no lease keeps (a record written without one, or unreadable) and that does not change for
 *    the acquirer's ttl is deleted, guarded by its mod revision, and acquired.
 *  - pins: kept in the record; the store that pins a key keeps its etcd lease alive (keepalives every
 *    renew interval) until it unpins, the key goes, or the store closes: a pin lasts as long as the process
 *    that made it.
 * Not guaranteed: anything while this process cannot reach a quorum of etcd (the lease then ends at its
 * deadline, 'io'); that a key's record names the holder between a stale write and the holder's next renewal.
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { debug, debugEnabled } from '../debug.js';
import { LeaseholdError, abortError } from '../errors.js';
import { HeldLease, type LeaseBackend } from './held-lease.js';
import { fencingToken, heldKey } from './token.js';
import { LeaseKey } from './key.js';
import { waitForHolderChange } from './observe.js';
import { currentProcess, isProcessGone } from './process-identity.js';
import { RECORD_FORMAT, recordProblem, type LeaseRecord, type Meta } from './record.js';
import type { AcquireOptions, FencingToken, Lease, LeaseState, LeaseStore, WaitOptions } from './store.js';
import { resolveTiming } from './timing.js';

export interface EtcdLeaseStoreOptions {
  /** The etcd3 client to use (its hosts, credentials and TLS are yours); the store never closes it. */
  client: Etcd3;
  /** The prefix of every key this store writes. @default '/leasehold' */
  prefix?: string;
  /** @default systemClock */
  clock?: Clock;
  /** How often waitUntilReleased() reads the key besides etcd's watch. @default 250 */
  pollIntervalMs?: number;
}

/** The record as stored: the etcd lease that keeps it, beside the record's fields. */
type Stored = LeaseRecord & { etcdLease: string };

interface Read {
  kv?: IKeyValue;
  record?: Stored;
  /** Why the stored value is not a record of a live lease: unreadable, or not kept by the lease it names. */
  damage?: string;
}

export class EtcdLeaseStore implements LeaseStore {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  readonly #held = new Map<string, HeldLease>();
  /** Keys whose value no lease keeps: the mod revision first seen, and when. */
  readonly #unkept = new Map<string, { mod: string; since: number }>();
  /** Pins this store keeps alive: key → entities, and the keepalive timer. */
  readonly #pins = new Map<string, { entities: Set<string>; timer?: Timer }>();
  #closed = false;

  constructor(options: EtcdLeaseStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? '/leasehold';
    this.#clock = options.clock ?? systemClock;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    if (!/^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(this.#prefix))
      throw new LeaseholdError('EINVALIDCONFIG', `prefix must look like /a/b, got ${JSON.stringify(this.#prefix)}`, { field: 'prefix' });
  }

  #path(key: LeaseKey): Buffer {
    return Buffer.from(`${this.#prefix}${key}`);
  }
  #releasedPath(key: LeaseKey): Buffer {
    return Buffer.from(`${this.#prefix}/.released${key}`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new LeaseholdError('ECLOSED', 'this lease store is closed');
  }

  async #read(key: LeaseKey): Promise<Read> {
    const res = await this.#client.kv.range({ key: this.#path(key) }).catch(ioFailure(`read lease ${key} from etcd`));
    return parseKv(res.kvs[0]);
  }

  /** What a key's value says: a live holder's record, or why it is not one. */
  /** True once `read`'s unkept value has stayed the same for `ttlMs`. */
  #unkeptFor(key: LeaseKey, read: Read, ttlMs: number): boolean {
    const k = String(key);
    const seen = this.#unkept.get(k);
    if (!seen || seen.mod !== read.kv!.mod_revision) {
      this.#unkept.set(k, { mod: read.kv!.mod_revision, since: this.#clock.now() });
      return false;
    }
    return this.#clock.now() - seen.since >= ttlMs;
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
      this.#read(key),
      this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(timing.ttlMs / 1000) }).catch(ioFailure(`grant an etcd lease for ${key}`)),
    ]);
    if (grant.status === 'rejected') throw grant.reason;
    const granted = grant.value;
    if (read.status === 'rejected') {
      await this.#revoke(granted.ID);
      throw read.reason;
    }
    const cur = read.value;
    if (cur.kv)
      await this.#clearIfFree(key, cur, timing.ttlMs).catch(async (err: unknown) => {
        await this.#revoke(granted.ID);
        throw err;
      });
    const me = currentProcess();
    const wall = this.#clock.wallNow();
    const record: Stored = {
      format: RECORD_FORMAT,
      key: String(key),
      instanceId,
      epoch: 0, // the key's create revision: known once it exists
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
    };
    const path = this.#path(key);
    const txn = await this.#client.kv
      .txn({
        compare: [{ key: path, target: 'Create', result: 'Equal', create_revision: '0' }],
        success: [
          { request_put: { key: path, value: Buffer.from(JSON.stringify(record)), lease: granted.ID } },
          { request_delete_range: { key: this.#releasedPath(key) } },
        ],
        failure: [{ request_range: { key: path } }],
      })
      .catch(async (err: unknown) => {
        await this.#revoke(granted.ID);
        return ioFailure(`acquire lease ${key} in etcd`)(err);
      });
    if (!txn.succeeded) {
      await this.#revoke(granted.ID);
      throw await this.#conflict(key);
    }
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

  /** Deletes what holds `key` but is no longer a holder: a process gone from this machine, or an unkept value. */
  async #clearIfFree(key: LeaseKey, cur: Read, ttlMs: number): Promise<void> {
    const path = this.#path(key);
    if (cur.damage === undefined && cur.record && isProcessGone(cur.record)) {
      const txn = await this.#client.kv
        .txn({
          compare: [{ key: path, target: 'Create', result: 'Equal', create_revision: cur.kv!.create_revision }],
          success: [{ request_delete_range: { key: path } }],
        })
        .catch(ioFailure(`take lease ${key} over in etcd`));
      if (txn.succeeded) {
        if (debugEnabled) debug(`${key}: holder ${cur.record.instanceId} (pid ${cur.record.pid}) is gone: its key deleted`);
        void this.#revoke(cur.record.etcdLease); // the key is gone: nobody waits for its lease to go too
      }
      return;
    }
    const ttl = cur.record && cur.damage === undefined ? cur.record.ttlMs : ttlMs;
    if (cur.damage !== undefined && this.#unkeptFor(key, cur, ttl)) {
      await this.#client.kv
        .txn({
          compare: [{ key: path, target: 'Mod', result: 'Equal', mod_revision: cur.kv!.mod_revision }],
          success: [{ request_delete_range: { key: path } }],
        })
        .catch(ioFailure(`clear lease ${key} in etcd`));
    }
  }

  async #conflict(key: LeaseKey): Promise<LeaseholdError> {
    const cur = await this.#read(key).catch(() => ({}) as Read);
    const holder = cur.record;
    const why =
      cur.damage !== undefined
        ? cur.record
          ? `${cur.damage}; it frees once no lease keeps it for a ttl`
          : `${cur.damage}`
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

  async #revoke(id: string): Promise<void> {
    await this.#client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined); // already gone: nothing to do
  }

  /**
   * One keepalive of etcd lease `id`: the ttl etcd granted again (0 or less: the lease no longer exists).
   * Given up after `withinMs` (the holder's deadline ends its lease meanwhile; nothing waits forever).
   */
  async #keepAlive(id: string, withinMs: number): Promise<number> {
    const stream = await this.#client.leaseClient.leaseKeepAlive({ deadline: this.#clock.wallNow() + withinMs });
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.write({ ID: id });
      });
      return Number(res.TTL);
    } finally {
      stream.end();
    }
  }

  #backend(key: LeaseKey): LeaseBackend {
    const path = this.#path(key);
    const superseded = (current: LeaseRecord, why: string) =>
      new LeaseholdError('ELOST', `lease ${key} (epoch ${current.epoch}) was superseded: ${why}`, {
        reason: 'superseded',
        key: String(key),
      });
    const write = async (current: Stored, next: Stored): Promise<Stored> => {
      const txn = await this.#client.kv
        .txn({
          compare: [{ key: path, target: 'Create', result: 'Equal', create_revision: String(current.epoch) }],
          success: [{ request_put: { key: path, value: Buffer.from(JSON.stringify({ ...next, epoch: 0 })), lease: next.etcdLease } }],
        })
        .catch(ioFailure(`write lease ${key} to etcd`));
      if (!txn.succeeded) throw superseded(current, 'its key was deleted or recreated');
      return next;
    };
    return {
      renew: async (currentRecord) => {
        const current = currentRecord as Stored;
        const ttl = await this.#keepAlive(current.etcdLease, current.ttlMs).catch(ioFailure(`renew lease ${key} in etcd`));
        if (ttl <= 0) throw superseded(current, `etcd lease ${current.etcdLease} expired`);
        const cur = await this.#read(key);
        if (!cur.kv || cur.kv.create_revision !== String(current.epoch)) throw superseded(current, 'its key was deleted or recreated');
        const next: Stored = {
          ...current,
          renewedAt: this.#clock.wallNow(),
          renewals: current.renewals + 1,
          pins: cur.damage === undefined && cur.record ? [...cur.record.pins] : current.pins,
        };
        // Someone wrote over the record (a stale writer): write ours again.
        if (cur.damage !== undefined || cur.record?.instanceId !== current.instanceId) return write(current, next);
        return next;
      },
      updateMeta: (currentRecord, meta: Meta) => {
        const current = currentRecord as Stored;
        return write(current, { ...current, renewedAt: this.#clock.wallNow(), meta: { ...meta } });
      },
      release: async (currentRecord) => {
        const current = currentRecord as Stored;
        const note = { epoch: current.epoch, instanceId: current.instanceId, at: this.#clock.wallNow() };
        await this.#client.kv
          .txn({
            compare: [{ key: path, target: 'Create', result: 'Equal', create_revision: String(current.epoch) }],
            success: [
              { request_delete_range: { key: path } },
              { request_put: { key: this.#releasedPath(key), value: Buffer.from(JSON.stringify(note)) } },
            ],
          })
          .catch(ioFailure(`release lease ${key} in etcd`));
        await this.#revoke(current.etcdLease);
      },
      ended: (lease) => {
        if (this.#held.get(heldKey(key, lease.instanceId)) === lease) this.#held.delete(heldKey(key, lease.instanceId));
      },
    };
  }

  async inspect(key: LeaseKey | string): Promise<LeaseRecord | undefined> {
    const state = await this.describe(key);
    return state.state === 'held' ? state.record : undefined;
  }

  async describe(keyLike: LeaseKey | string): Promise<LeaseState> {
    this.#assertOpen();
    const key = LeaseKey.from(keyLike);
    // The key and the note of its last release, in one round trip.
    const both = await this.#client.kv
      .txn({ success: [{ request_range: { key: this.#path(key) } }, { request_range: { key: this.#releasedPath(key) } }] })
      .catch(ioFailure(`read lease ${key} from etcd`));
    const cur = parseKv(both.responses[0]?.response_range.kvs[0]);
    if (!cur.kv) return { state: 'free', reason: (both.responses[1]?.response_range.kvs.length ?? 0) > 0 ? 'released' : 'none' };
    if (cur.damage !== undefined && !cur.record)
      return { state: 'unknown', reason: 'corrupt', path: `etcd:${this.#path(key).toString()}`, message: `lease ${key}: ${cur.damage}` };
    if (cur.damage !== undefined)
      return {
        state: 'unknown',
        reason: 'claimed',
        epoch: cur.record!.epoch,
        instanceId: cur.record!.instanceId,
        record: cur.record!,
        message: `lease ${key}: ${cur.damage}; it settles when its holder renews or no lease keeps it for a ttl`,
      };
    if (isProcessGone(cur.record!)) return { state: 'free', reason: 'holder-gone', record: cur.record! };
    return { state: 'held', record: cur.record! };
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
    let watcher: Watcher | undefined;
    // Watching from the current revision on, and again after a reconnection: a change missed meanwhile is
    // seen by the caller's next read (the contract asks callers to re-read now and then).
    void this.#client
      .watch()
      .key(this.#path(key))
      .create()
      .then(
        (w) => {
          if (stopped) return void w.cancel().catch(() => undefined);
          watcher = w;
          w.on('put', onChange);
          w.on('delete', onChange);
          w.on('connected', onChange);
          w.on('error', () => undefined); // the client reconnects on its own; reads cover the gap
        },
        () => undefined,
      );
    return () => {
      stopped = true;
      void watcher?.cancel().catch(() => undefined);
    };
  }

  token(keyLike: LeaseKey | string, instanceId: string): FencingToken {
    return fencingToken(LeaseKey.from(keyLike), instanceId, this.#held, async (lease) => {
      const cur = await this.#read(lease.key);
      return cur.damage === undefined && cur.record?.instanceId === instanceId && cur.record.epoch === lease.epoch;
    });
  }

  async pin(keyLike: LeaseKey | string, entity: string): Promise<void> {
    const key = LeaseKey.from(keyLike);
    await this.#editPins(key, entity, (pins) => (pins.includes(entity) ? pins : [...pins, entity]));
    const k = String(key);
    const mine = this.#pins.get(k) ?? { entities: new Set<string>() };
    mine.entities.add(entity);
    this.#pins.set(k, mine);
    if (!mine.timer) this.#keepPinned(key);
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

  /** Keeps the etcd lease of a key this store pinned alive, every renew interval, while the pins last. */
  #keepPinned(key: LeaseKey): void {
    const mine = this.#pins.get(String(key));
    if (!mine || this.#closed) return;
    const tick = async () => {
      const cur = await this.#read(key).catch(() => undefined);
      if (this.#pins.get(String(key)) !== mine) return;
      const pinned = cur?.record && cur.damage === undefined && [...mine.entities].some((e) => cur.record!.pins.includes(e));
      if (!pinned) {
        this.#pins.delete(String(key)); // the key went, or another holder has it: nothing of ours to keep
        return;
      }
      await this.#keepAlive(cur.record!.etcdLease, cur.record!.ttlMs).catch(() => undefined);
      mine.timer = this.#clock.setTimeout(() => void tick(), cur.record!.renewIntervalMs);
    };
    mine.timer = this.#clock.setTimeout(() => void tick(), 0);
  }

  async #editPins(key: LeaseKey, entity: string, edit: (pins: string[]) => string[]): Promise<void> {
    this.#assertOpen();
    if (typeof entity !== 'string' || entity.length === 0)
      throw new LeaseholdError('EINVALIDCONFIG', 'a pin entity is a non-empty string', { field: 'entity' });
    for (;;) {
      const cur = await this.#read(key);
      if (!cur.record || cur.damage !== undefined)
        throw new LeaseholdError('ENOTHELD', `lease ${key} is not held: there is nothing to pin`, { key: String(key) });
      const pins = edit(cur.record.pins);
      if (pins.length === cur.record.pins.length && pins.every((p, i) => p === cur.record!.pins[i])) return;
      const path = this.#path(key);
      const txn = await this.#client.kv
        .txn({
          compare: [{ key: path, target: 'Mod', result: 'Equal', mod_revision: cur.kv!.mod_revision }],
          success: [
            { request_put: { key: path, value: Buffer.from(JSON.stringify({ ...cur.record, epoch: 0, pins })), ignore_lease: true } },
          ],
        })
        .catch(ioFailure(`pin lease ${key} in etcd`));
      if (txn.succeeded) return;
    }
  }

  async pinned(): Promise<Record<string, string[]>> {
    this.#assertOpen();
    const start = Buffer.from(`${this.#prefix}/`);
    const end = Buffer.from(`${this.#prefix}0`); // '0' follows '/': every key under the prefix
    const res = await this.#client.kv.range({ key: start, range_end: end }).catch(ioFailure('list leases in etcd'));
    const out: Record<string, string[]> = {};
    for (const kv of res.kvs) {
      const name = kv.key.toString().slice(this.#prefix.length);
      if (name.startsWith('/.')) continue;
      try {
        const r = JSON.parse(kv.value.toString()) as Partial<Stored>;
        if (Array.isArray(r.pins) && r.pins.length > 0 && r.etcdLease === kv.lease) out[name] = r.pins.map(String);
      } catch {
        // unreadable: holds no pins
      }
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

function parseKv(kv: IKeyValue | undefined): Read {
  if (!kv) return {};
  let value: unknown;
  try {
    value = JSON.parse(kv.value.toString('utf8'));
  } catch {
    return { kv, damage: 'its record is unreadable (not JSON)' };
  }
  // The stored epoch is a placeholder: a record's epoch is its key's create revision.
  const record = { ...(value as Stored), epoch: Number(kv.create_revision) };
  const bad = recordProblem(record);
  if (bad !== undefined || typeof record.etcdLease !== 'string')
    return { kv, damage: `its record is unreadable (bad field "${bad ?? 'etcdLease'}")` };
  if (record.etcdLease !== kv.lease || kv.lease === '0')
    return { kv, record, damage: `its record names instance ${record.instanceId}, but no lease of its keeps it (a stale write)` };
  return { kv, record };
}

/** etcd's errors as EIO (retried by a held lease until its deadline), naming what failed. */
function ioFailure(what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof LeaseholdError) throw err;
    throw new LeaseholdError('EIO', `cannot ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  };
}
