/**
 * `join()`: the role state machine. The only module that composes the lease, the owner's server and the
 * follower's link.
 *
 *   starting ──acquire ok──▶ owner ──lease lost / deposed──▶ (contend again)
 *      │                       │
 *      │                       └──journal damaged (ECORRUPT)──▶ failed ──file repaired──▶ (contend again)
 *      └──ECONFLICT──▶ follower (connected to the holder's endpoint) ──owner gone──▶ (contend again)
 *                              any state ──close()──▶ closed
 *
 * Contending (numbered as in the code):
 *  0. A journal known to be damaged (this instance failed on it, or another left its marker: see
 *     state/damage.ts) stays damaged: report the failure and claim no epoch until the file changes.
 *  1. Listen first (fresh secret), so the endpoint goes into the same record write as the acquisition.
 *     Check the state directory once before the first acquisition: a refused one (EIO) costs no epoch.
 *  2. Acquire. Success: serve under the lease's guard. ECONFLICT: follow the holder from the error.
 *  3. Follow: connect with the record's secret; stay until the link closes, the owner is hung, or the
 *     record names someone else. Then contend again, at once after a crash (the holder's pid is gone, so
 *     acquisition succeeds immediately), after the successor had its chance on a graceful handover, and
 *     after the ttl for a hung owner.
 * Guarantees: one serving owner per epoch (the server checks the lease before every connection and every
 * message); followers never accept an owner older than an epoch they have seen; `close()` hands over.
 * Not guaranteed: that a follower connected to a stopped (SIGSTOP) owner notices before its heartbeat
 * fails (two heartbeat intervals).
 */
import { nextTurn, sleep } from './clock.js';
import { debug } from './debug.js';
import { resolveJoinOptions, type JoinOptions, type ResolvedJoinOptions } from './config.js';
import { ErrorCodes, LeaseholdError, isLeaseholdError, type ErrorCode, type LostReason } from './errors.js';
import { Emitter, Waiters } from './events.js';
import { FileLeaseStore } from './lease/file-store.js';
import type { LeaseKey } from './lease/key.js';
import { redactRecord, type LeaseRecord } from './lease/record.js';
import { newInstanceId } from './lease/record-store.js';
import { observe, waitForHolderChange, type Observation } from './lease/observe.js';
import type { Lease, LeaseStore } from './lease/store.js';
import { FollowerLink, type LinkClose, type LinkOptions } from './transport/client.js';
import { removeStaleSocket, socketPathOf } from './transport/endpoint.js';
import type { InstanceInfo } from './transport/protocol.js';
import { unreachable } from './transport/codec/fields.js';
import type { Sync } from './transport/codec/to-owner.js';
import type { BatchItem, LinkMessage, Successor } from './transport/codec/to-follower.js';
import { SharedState } from './state/shared-state.js';
import { startOwnerState, stateDir, type StateOptions } from './state/owner-handler.js';
import { DAMAGE_POLL_MS, damageError, markDamaged, readDamage, stillDamaged, type Damage } from './state/damage.js';
import { prefetch as prefetchJournal, prepareJournalDir } from './state/journal/index.js';
import { MutationBatcher } from './state/mutation-batcher.js';
import { SnapshotAssembly } from './state/snapshot-assembly.js';
import type { Json } from './state/document.js';
import { newSecret } from './transport/secret.js';
import { OwnerServer, type OwnerHandler } from './transport/server.js';

/**
 * During a graceful handover, how often a waiting instance reads the record when no change notification
 * comes (notifications wake it at once; this only bounds a missed one).
 */
const HANDOVER_POLL_MS = 25;

/** `failed`: the journal is damaged; this instance does not contend until it is repaired (see `failure`). */
export type Role = 'starting' | 'owner' | 'follower' | 'failed' | 'closed';

/** The owner's record as instances may show it: no secrets. */
export interface Holder {
  instanceId: string;
  epoch: number;
  pid: number;
  host: string;
  name: string;
  endpoint: string | null;
  acquiredAt: number;
  renewedAt: number;
  ttlMs: number;
}

export type InstanceEvent =
  | { type: 'role-change'; role: 'owner' | 'follower'; previous: Role; epoch: number }
  /** The journal is damaged (`error`: ECORRUPT with `path` and `offset`); also emitted as an `error` event. */
  | { type: 'role-change'; role: 'failed'; previous: Role; epoch: number; error: LeaseholdError }
  | { type: 'owner-change'; holder: Holder; epoch: number }
  /** `handover`: over a link prepared before a graceful handover (no new handshake); `record`: found from the lease record. */
  | { type: 'connected'; epoch: number; ownerId: string; via: 'handover' | 'record' }
  | { type: 'disconnected'; epoch: number; why: LinkClose['why'] }
  | { type: 'presence'; instances: InstanceInfo[] }
  | { type: 'lost'; epoch: number; reason: LostReason; error: LeaseholdError }
  | { type: 'error'; error: LeaseholdError }
  | { type: 'closed' };

export function toHolder(record: LeaseRecord): Holder {
  const r = redactRecord(record);
  return {
    instanceId: r.instanceId,
    epoch: r.epoch,
    pid: r.pid,
    host: r.host,
    name: typeof r.meta.name === 'string' ? r.meta.name : '',
    endpoint: typeof r.meta.endpoint === 'string' ? r.meta.endpoint : null,
    acquiredAt: r.acquiredAt,
    renewedAt: r.renewedAt,
    ttlMs: r.ttlMs,
  };
}

export class Instance<State = Json> {
  readonly instanceId: string;
  readonly key: LeaseKey;
  readonly name: string;
  readonly #opts: ResolvedJoinOptions;
  readonly #store: LeaseStore;
  readonly #ownsStore: boolean;
  readonly #events = new Emitter<InstanceEvent>();
  readonly #whenOwner = new Waiters<void>();
  readonly #whenConnected = new Waiters<void>();
  readonly #stop = new AbortController();
  /** The shared state as this instance sees it (owner or follower). */
  readonly state: SharedState<State>;
  readonly #stateOptions: StateOptions;
  /** The state directory passed its check (private-files.ts) once: later refusals come from Journal.open. */
  #stateDirChecked = false;
  #ownerState: (OwnerHandler & { close(): Promise<void> }) | undefined;
  #role: Role = 'starting';
  #epoch = 0;
  /** The epoch of the last role-change event. */
  #roleEpoch = 0;
  #holder: Holder | undefined;
  #instances: InstanceInfo[] = [];
  #server: OwnerServer | undefined;
  #secret = '';
  #lease: Lease | undefined;
  #link: FollowerLink | undefined;
  #closing: Promise<void> | undefined;
  /** A connection held by the designated successor, to use when the owner hands over to it. */
  #standby: Standby | undefined;
  /** While following: called when the standby link to the designated successor is welcomed. */
  #onStandbyServing: ((successor: string) => void) | undefined;
  /** Set when the owner left naming this instance its successor: the record it left. */
  #handedOverBy: LeaseRecord | undefined;
  #lastEndpoint: string | undefined;
  /** The idle listener a new follower closes without waiting (awaited by close()). */
  #idleClosing: Promise<void> | undefined;
  /** The damaged file this instance found itself, while it is as it was found. */
  #damage: Damage | undefined;
  /** Why the role is `failed`. */
  #failure: LeaseholdError | undefined;
  #running: Promise<void>;

  constructor(options: JoinOptions<State>) {
    // The reducers' State is the caller's name for the JSON they get: at run time every state is Json.
    this.#opts = resolveJoinOptions(options as unknown as JoinOptions);
    this.key = this.#opts.key;
    this.name = this.#opts.name;
    this.instanceId = newInstanceId();
    this.state = new SharedState<State>(this.instanceId, { maxPendingMutations: this.#opts.maxPendingMutations });
    this.#stateOptions = {
      maxValueBytes: this.#opts.maxValueBytes,
      snapshotEvery: this.#opts.snapshotEvery,
      maxFollowerBacklogBytes: 8 * 2 ** 20,
      reducers: this.#opts.reducers,
      ...(options.journalFs ? { journalFs: options.journalFs } : {}),
    };
    this.#ownsStore = options.store === undefined;
    this.#store = options.store ?? new FileLeaseStore({ dataRoot: this.#opts.dataRoot, clock: this.#opts.clock });
    this.#events.onListenerError = (err) =>
      queueMicrotask(() => {
        throw err;
      });
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => void this.close());
      else options.signal.addEventListener('abort', () => void this.close(), { once: true });
    }
    this.#running = this.#run().catch((err) => this.#emitError(err));
  }

  get role(): Role {
    return this.#role;
  }
  /** The current owner's epoch as known here (0 before any is known). */
  get epoch(): number {
    return this.#epoch;
  }
  /** The current owner's record, without secrets. */
  get holder(): Holder | undefined {
    return this.#holder;
  }
  /** The owner's endpoint (this instance's own when it owns). */
  get endpoint(): string | undefined {
    return this.#holder?.endpoint ?? undefined;
  }
  /** Instances connected to the current owner, the owner first (as last announced). */
  get instances(): InstanceInfo[] {
    return this.#instances;
  }
  /** While the role is `failed`: ECORRUPT naming the damaged file (`path`) and where (`offset`). */
  get failure(): LeaseholdError | undefined {
    return this.#failure;
  }
  /** True when this instance owns, or follows and is connected to the owner. */
  get connected(): boolean {
    return this.#role === 'owner' || (this.#role === 'follower' && this.#link !== undefined && !this.#link.closed);
  }

  on<K extends InstanceEvent['type']>(type: K, listener: (e: Extract<InstanceEvent, { type: K }>) => void): () => void {
    return this.#events.on(type, listener);
  }
  subscribe(listener: (e: InstanceEvent) => void): () => void {
    return this.#events.subscribe(listener);
  }

  /**
   * Resolves when this instance owns (at once if it does). Rejects ECLOSED if it closes first, and with
   * `failure` (ECORRUPT) when, or while, its role is `failed`.
   */
  whenOwner(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#role === 'owner') return Promise.resolve();
    if (this.#role === 'closed') return Promise.reject(closedError());
    if (this.#failure) return Promise.reject(this.#failure);
    return this.#whenOwner.wait(options.signal);
  }

  /** Resolves when this instance owns or is connected to the owner. Rejects as whenOwner() does. */
  whenConnected(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.#role === 'closed') return Promise.reject(closedError());
    if (this.#failure) return Promise.reject(this.#failure);
    return this.#whenConnected.wait(options.signal);
  }

  /** The owner's server while this instance owns (for the state layer). */
  get server(): OwnerServer | undefined {
    return this.#role === 'owner' ? this.#server : undefined;
  }
  /** The link to the owner while following. */
  get link(): FollowerLink | undefined {
    return this.#role === 'follower' ? this.#link : undefined;
  }
  /** The held lease while owning. */
  get lease(): Lease | undefined {
    return this.#role === 'owner' ? this.#lease : undefined;
  }

  // ---- the loop ----------------------------------------------------------------------------------

  async #run(): Promise<void> {
    let follow: LeaseRecord | Followed | undefined;
    let backoffMs = 0;
    // Before contending again after a failure: 50 ms, doubling up to 1 s.
    const backOff = () => this.#pause((backoffMs = Math.min(1000, backoffMs * 2 || 50)));
    while (!this.#stop.signal.aborted) {
      if (follow) {
        follow = 'link' in follow ? await this.#follow(follow.record, follow.link) : await this.#follow(follow);
        continue;
      }
      // 0. a damaged journal: acquiring would only claim an epoch to fail on it again
      let damage = this.#damage ?? readDamage(this.#stateDir);
      if (damage) {
        await this.#failed(damage);
        continue;
      }
      // 1. listen first
      let server: OwnerServer;
      try {
        server = await this.#ensureServer();
      } catch (err) {
        this.#emitError(err, 'cannot listen');
        await backOff();
        continue;
      }
      if (!this.#stateDirChecked)
        try {
          prepareJournalDir(this.#stateDir, this.#root, this.#stateOptions.journalFs);
          this.#stateDirChecked = true;
        } catch (err) {
          this.#emitError(err, 'cannot use the state directory');
          await backOff();
          continue;
        }
      // (0. again: an owner that failed while this one listened left its marker before it released)
      if ((damage = readDamage(this.#stateDir))) {
        await this.#failed(damage);
        continue;
      }
      // 2. acquire
      let lease: Lease;
      try {
        lease = await this.#store.acquire(this.key, {
          ttlMs: this.#opts.timing.ttlMs,
          renewIntervalMs: this.#opts.timing.renewIntervalMs,
          instanceId: this.instanceId,
          meta: { endpoint: server.endpoint, secret: this.#secret, name: this.name, protocol: 1 },
          signal: this.#stop.signal,
        });
      } catch (err) {
        if (this.#stop.signal.aborted) break;
        if (isLeaseholdError(err, 'ECONFLICT') && err.holder) {
          backoffMs = 0;
          const holder = err.holder as LeaseRecord;
          const from = this.#handedOverBy;
          this.#handedOverBy = undefined;
          if (from && holder.epoch === from.epoch && holder.instanceId === from.instanceId) {
            await this.#awaitRelease(from);
            debug('old owner released');
            continue;
          }
          follow = holder;
          continue;
        }
        this.#emitError(err, 'cannot acquire the lease');
        await backOff();
        continue;
      }
      this.#handedOverBy = undefined;
      debug(`acquired epoch ${lease.epoch}`);
      // An owner that could not start serving (its journal cannot be written: a full disk) released at
      // once; back off before contending again instead of claiming epoch after epoch in a tight loop. (A
      // damaged journal is step 0 on the next round.)
      if (await this.#own(lease, server)) backoffMs = 0;
      else await backOff();
    }
  }

  async #ensureServer(): Promise<OwnerServer> {
    if (this.#server && this.#server.state === 'listening') return this.#server;
    this.#secret = newSecret();
    const root = this.#root;
    this.#server = await OwnerServer.listen({
      transport: this.#opts.transport,
      root,
      instanceId: this.instanceId,
      name: this.name,
      secret: this.#secret,
      clock: this.#opts.clock,
      maxPayload: this.#opts.maxPayload,
      heartbeatIntervalMs: this.#opts.heartbeatIntervalMs,
      maxUnauthenticated: this.#opts.maxUnauthenticated,
      authTimeoutMs: this.#opts.authTimeoutMs,
      // Serving goes on (the unauthenticated connections were dropped to free descriptors); said once.
      onAcceptError: (err) => this.#emitError(err, 'cannot accept connections'),
    });
    return this.#server;
  }

  /** Serves while `lease` holds; false when serving could not even start. */
  async #own(lease: Lease, server: OwnerServer): Promise<boolean> {
    this.#lease = lease;
    // A killed owner's socket file stays behind: remove it (ours has another name).
    const stale = this.#lastEndpoint && socketPathOf(this.#lastEndpoint);
    if (stale && this.#lastEndpoint !== server.endpoint) removeStaleSocket(stale);
    let handler: OwnerHandler | undefined;
    try {
      // A new owner rebuilds the exact state from disk before it serves.
      const root = this.#root;
      this.#ownerState = await startOwnerState({
        dir: stateDir(root, this.key.pathSegments()),
        base: root,
        epoch: lease.epoch,
        lease,
        shared: this.state as SharedState,
        options: this.#stateOptions,
        clock: this.#opts.clock,
      });
      handler = this.#ownerState;
      server.serve(
        lease.epoch,
        () => lease.check(),
        handler,
        () => lease.record,
      );
      debug(`serving epoch ${lease.epoch} (state version ${this.state.version})`);
    } catch (err) {
      // Damage is left for the others to read before the release lets them acquire.
      if (isLeaseholdError(err, 'ECORRUPT'))
        this.#damage = markDamaged(this.#stateDir, err, { epoch: lease.epoch, instanceId: this.instanceId });
      else this.#emitError(err, 'cannot start serving');
      await lease.release().catch(() => undefined);
      await server.close();
      return false;
    }
    const deposed = new Promise<void>((resolve) => {
      server.onDeposed = () => resolve();
      lease.lost.addEventListener('abort', () => resolve(), { once: true });
      this.#stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.#instances = server.instances();
    this.#setHolder(lease.record);
    this.#setRole('owner');
    server.onPresence = (instances) => {
      this.#instances = instances;
      this.#events.emit({ type: 'presence', instances });
    };
    this.#whenOwner.resolveAll();
    this.#whenConnected.resolveAll();
    await deposed;
    server.onPresence = undefined;
    if (this.#stop.signal.aborted) return true; // close() hands over
    // Lost (expired, superseded, clock jump, I/O) or deposed: stop serving at once.
    await server.close();
    await this.#ownerState?.close();
    this.#ownerState = undefined;
    this.#server = undefined;
    this.#lease = undefined;
    const err =
      lease.lost.reason instanceof LeaseholdError
        ? lease.lost.reason
        : new LeaseholdError('ELOST', `lease ${this.key} lost`, { reason: 'expired' });
    this.#events.emit({ type: 'lost', epoch: lease.epoch, reason: err.reason ?? 'expired', error: err });
    await lease.release().catch(() => undefined);
    return true;
  }

  /**
   * Follows `record`'s holder (over `ready` when a standby link to it is already welcomed) until it goes;
   * returns what to follow next, or undefined to contend.
   */
  async #follow(record: LeaseRecord, ready?: FollowerLink): Promise<LeaseRecord | Followed | undefined> {
    // Close our idle listener: followers do not listen. Not awaited: nobody knows its endpoint (it never
    // served), and the close completes only in a later turn of the event loop (at start-up, only after
    // the first timer: awaiting it would delay a new follower's report of its role).
    if (this.#server && this.#server.state === 'listening') {
      this.#idleClosing = this.#server.close();
      this.#server = undefined;
    }
    this.#epoch = Math.max(this.#epoch, record.epoch);
    this.#setHolder(record);
    this.#setRole('follower');
    const endpoint = typeof record.meta.endpoint === 'string' ? record.meta.endpoint : undefined;
    const secret = typeof record.meta.secret === 'string' ? record.meta.secret : undefined;
    this.#lastEndpoint = endpoint;
    if (!endpoint || !secret) {
      // Held by something that does not serve (a bare lease): wait for it to go.
      await this.#waitRecordChange(this.#opts.timing.renewIntervalMs);
      return undefined;
    }
    let link: FollowerLink;
    try {
      link = ready ?? (await FollowerLink.connect(this.#linkOptions(endpoint, secret, record.epoch)));
    } catch {
      // The owner is starting, just died, or is hung: look again shortly (acquire takes over a dead one).
      await this.#waitRecordChange(10, 25);
      return undefined;
    }
    if (this.#stop.signal.aborted) {
      link.close();
      return undefined;
    }
    if (ready) debug(`connected to epoch ${link.epoch} over the standby link`);
    this.#link = link;
    this.#epoch = Math.max(this.#epoch, link.epoch);
    this.#instances = link.instances;
    const closed = new Promise<LinkClose>((resolve) =>
      link.attach({
        onMessage: (m) => this.#onStateMessage(link, m),
        onPresence: (instances) => {
          this.#instances = instances;
          this.#events.emit({ type: 'presence', instances });
        },
        onClose: resolve,
      }),
    );
    // Catch up from our version, then send again everything not yet acknowledged.
    link.send(this.#syncRequest(link));
    const batcher = new MutationBatcher(link);
    this.state.setRoute({ send: (seq, m, durable) => batcher.send(seq, m, durable) });
    debug(`connected to epoch ${link.epoch}`);
    this.#events.emit({ type: 'connected', epoch: link.epoch, ownerId: link.ownerId, via: ready ? 'handover' : 'record' });
    this.#events.emit({ type: 'presence', instances: link.instances });
    this.#whenConnected.resolveAll();
    // Stay until the link closes, or the record names someone else (a deposed owner may keep its socket).
    // A backstop only (the link reports a leaving, dead or hung owner), so it polls: file-system
    // notifications would wake every follower at every step of every lease transaction, and on a
    // graceful handover all of them would read the record while the successor acquires.
    const watch = this.#holderGone(record);
    const recordChanged = watch.gone.then((gone) => (gone ? ('record' as const) : ('aborted' as const)));
    // The designated successor welcomed our standby link: it serves a newer epoch, so this owner left,
    // whether or not its announcement reached us yet (it tells the successor first, the rest later).
    const successorServing = new Promise<LinkClose>((resolve) => {
      this.#onStandbyServing = (successor) => resolve({ why: 'leaving', successor });
    });
    let outcome: LinkClose | 'record' | 'aborted' = await Promise.race([closed, recordChanged, successorServing]);
    this.#onStandbyServing = undefined;
    const welcomedAway = outcome !== 'record' && outcome !== 'aborted' && !link.closed;
    watch.cancel();
    if (outcome === 'record') {
      // A graceful owner announces before it releases, but the release can be seen first (the watcher
      // fires before the socket is read): give an announcement already on its way a moment to arrive.
      const late = await Promise.race([closed, sleep(this.#opts.clock, 50).then(() => undefined)]);
      if (late) outcome = late;
    }
    if (outcome === 'record' || outcome === 'aborted') link.close();
    else if (welcomedAway) link.close(true); // it is leaving: no close handshake for either of us to run
    this.#link = undefined;
    this.state.setRoute(undefined);
    const why: LinkClose['why'] = typeof outcome === 'string' ? 'closed' : outcome.why;
    const standby = this.#standby;
    this.#standby = undefined;
    debug(
      `left epoch ${link.epoch}: ${typeof outcome === 'string' ? outcome : outcome.why === 'leaving' ? `leaving, successor ${outcome.successor ?? '-'}` : outcome.why}`,
    );
    this.#events.emit({ type: 'disconnected', epoch: link.epoch, why });
    // The standby link serves a graceful handover only; otherwise the record decides where to go.
    const handover = typeof outcome === 'object' && outcome.why === 'leaving' && outcome.successor !== this.instanceId;
    if (!handover || this.#stop.signal.aborted) standby?.cancel();
    if (this.#stop.signal.aborted) return undefined;
    if (typeof outcome === 'object') {
      if (outcome.why === 'leaving') {
        if (outcome.successor !== this.instanceId) {
          const viaStandby = await this.#takeStandby(standby, outcome.successor, record);
          if (viaStandby) return viaStandby;
          const next = await this.#awaitSuccessor(record);
          debug(`successor ${next ? `epoch ${next.epoch} seen` : 'not seen in time'}`);
          return next;
        }
        // The chosen successor: the owner announces after its release, so contend at once. (An owner
        // that had not released yet, as older versions announced first, makes the acquisition fail with
        // its record: then wait for the release, in #run.)
        this.#handedOverBy = record;
      }
      // A hung owner stops renewing: its lease is free after the ttl, and acquisition takes over. One that
      // only looked hung (too busy to answer in time) keeps renewing: after the ttl, contend again, which
      // fails with ECONFLICT and reconnects to it. Waiting for a record change alone would wait forever.
      if (outcome.why === 'hung')
        await this.#waitRecordChange(this.#opts.timing.renewIntervalMs, this.#opts.timing.ttlMs + this.#opts.timing.renewIntervalMs);
    }
    return undefined;
  }

  /** The snapshot each link is receiving, a part at a time. */
  readonly #snapshots = new WeakMap<FollowerLink, SnapshotAssembly>();

  #onStateMessage(link: FollowerLink, m: LinkMessage | BatchItem): void {
    // A link this instance left (its route is gone): its acks would count for the next owner's route.
    if (link !== this.#link) return;
    let incoming = this.#snapshots.get(link);
    const out = incoming?.interrupts(m.t);
    if (out) return link.refuse(out.refused.reason, out.refused.code);
    switch (m.t) {
      case 'standby-request':
        return void this.#offerStandby(link);
      case 'successor':
        return this.#prepareStandby(link, m);
      case 'batch':
        // (Decoded: changes, acks and nacks of the batch's epoch, which the link checked.)
        for (const item of m.items) this.#onStateMessage(link, item);
        return;
      case 'snapshot-part': {
        if (!incoming) this.#snapshots.set(link, (incoming = new SnapshotAssembly()));
        const out = incoming.part(m);
        return out && link.refuse(out.refused.reason, out.refused.code);
      }
      case 'snapshot-end': {
        const done = (incoming ?? new SnapshotAssembly()).end(m);
        return 'refused' in done ? link.refuse(done.refused.reason, done.refused.code) : this.state.snapshot(done.v, done.state);
      }
      case 'changes': {
        const { ms, ids, v } = m; // as many ids as changes (decoded)
        // Out of order (a gap): ask again from where the replica is.
        for (let i = 0; i < ms.length; i++) if (!this.state.change(v + i, ms[i]!, ids[i]!)) return void link.send(this.#syncRequest(link));
        return;
      }
      case 'synced':
        return this.state.caughtUp(m.v);
      case 'acks': {
        const { seqs, vs } = m; // as many versions as acks (decoded)
        for (let i = 0; i < seqs.length; i++) this.state.ack(seqs[i]!, vs[i]!);
        return;
      }
      case 'nack':
        // ELOST: the owner lost its lease mid-way; the outcome is unknown, so keep it for the next owner.
        if (m.code === 'ELOST') return;
        return this.state.nack(m.seq, new LeaseholdError(asCode(m.code), m.message));
      default:
        return unreachable(m);
    }
  }

  /** "Send me what I lack": from the replica's version, and the id of its change there when known. */
  #syncRequest(link: FollowerLink): Sync {
    const at = this.state.lastId;
    return at !== undefined
      ? { t: 'sync', epoch: link.epoch, since: this.state.version, at }
      : { t: 'sync', epoch: link.epoch, since: this.state.version };
  }

  /** How this instance connects to an owner at `endpoint` (never one below `minEpoch`). */
  #linkOptions(endpoint: string, secret: string, minEpoch: number): LinkOptions {
    return {
      endpoint,
      secret,
      instanceId: this.instanceId,
      name: this.name,
      minEpoch,
      clock: this.#opts.clock,
      heartbeatIntervalMs: this.#opts.heartbeatIntervalMs,
      connectTimeoutMs: Math.max(200, this.#opts.heartbeatIntervalMs * 2),
    };
  }

  /** Designated as the successor: listen now (unserved; followers' connections are held) and say where. */
  async #offerStandby(link: FollowerLink): Promise<void> {
    try {
      const server = await this.#ensureServer();
      if (link.closed || this.#link !== link) return;
      link.send({ t: 'standby', epoch: link.epoch, endpoint: server.endpoint, secret: this.#secret });
      debug(`standing by at ${server.endpoint} as the successor of epoch ${link.epoch}`);
      const root = this.#root;
      void nextTurn().then(() => prefetchJournal(stateDir(root, this.key.pathSegments())));
    } catch (err) {
      this.#emitError(err, 'cannot listen as the designated successor');
    }
  }

  /** Another follower is the successor: connect to it now; it welcomes us when it serves. */
  #prepareStandby(link: FollowerLink, m: Successor): void {
    if (m.instanceId === this.instanceId) return;
    const current = this.#standby;
    if (current && current.instanceId === m.instanceId && current.endpoint === m.endpoint) return;
    current?.cancel();
    const prepared = FollowerLink.prepare({
      ...this.#linkOptions(m.endpoint, m.secret, link.epoch + 1),
      welcomeTimeoutMs: null,
    });
    const standby: Standby = {
      instanceId: m.instanceId,
      endpoint: m.endpoint,
      secret: m.secret,
      ...prepared,
    };
    this.#standby = standby;
    prepared.link.then(
      () => {
        if (this.#standby === standby) this.#onStandbyServing?.(standby.instanceId);
      },
      () => undefined,
    );
  }

  /** After the owner left naming `successor`: the standby link to it, once welcomed, with its record. */
  async #takeStandby(standby: Standby | undefined, successor: string | null, old: LeaseRecord): Promise<Followed | undefined> {
    if (!standby) return undefined;
    if (standby.instanceId !== successor) {
      standby.cancel();
      return undefined;
    }
    const timeout = sleep(this.#opts.clock, this.#opts.handoverTimeoutMs, this.#stop.signal).then(
      () => undefined,
      () => undefined,
    );
    const link = await Promise.race([standby.link.catch(() => undefined), timeout]);
    if (!link) {
      standby.cancel();
      return undefined;
    }
    // Its record: from the welcome, else (a server given none) from the store. The endpoint and secret are those
    // the old owner passed on, which this link just proved.
    const holder = link.welcome.holder;
    const record = holder
      ? { ...holder, meta: { ...holder.meta, endpoint: standby.endpoint, secret: standby.secret } }
      : await this.#store.inspect(this.key).catch(() => undefined);
    if (!record || record.epoch !== link.epoch || record.instanceId !== link.ownerId || record.epoch <= old.epoch) {
      link.close();
      return undefined;
    }
    return { record, link };
  }

  /** After a graceful handover to another instance: follow the successor as soon as its record appears. */
  #awaitSuccessor(old: LeaseRecord): Promise<LeaseRecord | undefined> {
    return this.#awaitRecord((seen) => (seen.state === 'held' && seen.record.epoch > old.epoch ? seen.record : undefined));
  }

  /** The chosen successor: waits until the old owner has released (or its record cannot be read). */
  async #awaitRelease(old: LeaseRecord): Promise<void> {
    await this.#awaitRecord((seen) => (seen.state !== 'held' || seen.record.epoch !== old.epoch ? true : undefined));
  }

  /**
   * Reads the key's state at every change notification (at least every HANDOVER_POLL_MS) until `look`
   * returns a value, for at most handoverTimeoutMs or until close; undefined then.
   */
  #awaitRecord<T>(look: (seen: Observation) => T | undefined): Promise<T | undefined> {
    const clock = this.#opts.clock;
    return observe(this.#store, this.key, look, {
      clock,
      pollIntervalMs: HANDOVER_POLL_MS,
      deadline: clock.now() + this.#opts.handoverTimeoutMs,
      signal: this.#stop.signal,
    }).catch(() => undefined);
  }

  /**
   * Reports `damage` (role `failed`, its ECORRUPT as an `error` event, waiters rejected), then stays out
   * until the damaged file changes (repaired or moved aside) or close: one stat every DAMAGE_POLL_MS.
   */
  async #failed(damage: Damage): Promise<void> {
    // Found at once from the marker, inside join(): report it after the caller has subscribed.
    await nextTurn();
    if (this.#stop.signal.aborted) return;
    if (this.#server && this.#server.state === 'listening') {
      this.#idleClosing = this.#server.close();
      this.#server = undefined;
    }
    const error = damageError(damage);
    this.#failure = error;
    this.state.refuse(error);
    this.#epoch = Math.max(this.#epoch, damage.epoch);
    debug(`failed: ${damage.path} damaged at offset ${damage.offset}`);
    this.#events.emit({ type: 'error', error });
    const previous = this.#role;
    this.#role = 'failed';
    this.#events.emit({ type: 'role-change', role: 'failed', previous, epoch: this.#epoch, error });
    this.#whenOwner.rejectAll(error);
    this.#whenConnected.rejectAll(error);
    // At least one pause: contending again can meet the same damage, and must not do so in a tight loop.
    do await this.#pause(DAMAGE_POLL_MS);
    while (!this.#stop.signal.aborted && stillDamaged(damage));
    this.#damage = undefined;
    this.#failure = undefined;
    this.state.refuse(undefined);
    if (!this.#stop.signal.aborted) {
      debug(`${damage.path} changed: contending again`);
      this.#role = 'starting';
    }
  }

  get #stateDir(): string {
    return stateDir(this.#root, this.key.pathSegments());
  }

  /** Where leasehold keeps its files: the file store's root, or the data root for other stores. */
  get #root(): string {
    return (this.#store as Partial<FileLeaseStore>).root ?? this.#opts.dataRoot;
  }

  /**
   * `gone` resolves true once the record no longer names `holder` (free, or another holder), looking every
   * renewal interval, first one interval from now (the caller just read it); false when cancelled or on
   * close.
   */
  #holderGone(holder: LeaseRecord): { gone: Promise<boolean>; cancel(): void } {
    const cancelled = new AbortController();
    const gone = observe(
      this.#store,
      this.key,
      (seen) =>
        seen.state === 'free' ||
        (seen.state === 'held' && (seen.record.instanceId !== holder.instanceId || seen.record.epoch !== holder.epoch))
          ? true
          : undefined,
      {
        clock: this.#opts.clock,
        pollIntervalMs: this.#opts.timing.renewIntervalMs,
        signal: [cancelled.signal, this.#stop.signal],
        notifications: false,
        readAtOnce: false,
      },
    ).catch(() => false);
    return { gone, cancel: () => cancelled.abort() };
  }

  /** Waits until the key's record changes holder or becomes free, reading every `pollMs`, for at most `maxMs`. */
  async #waitRecordChange(pollMs: number, maxMs?: number): Promise<void> {
    const clock = this.#opts.clock;
    await waitForHolderChange(this.#store, this.key, {
      clock,
      pollIntervalMs: pollMs,
      deadline: maxMs === undefined ? undefined : clock.now() + maxMs,
      signal: this.#stop.signal,
    }).catch(() => undefined); // timed out, stopping, or unreadable: contend again
  }

  #pause(ms: number): Promise<void> {
    return sleep(this.#opts.clock, ms, this.#stop.signal).catch(() => undefined);
  }

  /** Emits role-change when the role changes, and also when an owner owns again under a new epoch. */
  #setRole(role: 'owner' | 'follower'): void {
    const previous = this.#role;
    if (previous === role && (role === 'follower' || this.#roleEpoch === this.#epoch)) return;
    this.#role = role;
    this.#roleEpoch = this.#epoch;
    this.#events.emit({ type: 'role-change', role, previous, epoch: this.#epoch });
  }

  #setHolder(record: LeaseRecord): void {
    const holder = toHolder(record);
    this.#epoch = Math.max(this.#epoch, holder.epoch);
    const changed = !this.#holder || this.#holder.epoch !== holder.epoch || this.#holder.instanceId !== holder.instanceId;
    this.#holder = holder;
    if (changed) this.#events.emit({ type: 'owner-change', holder, epoch: holder.epoch });
  }

  #emitError(err: unknown, what?: string): void {
    const e =
      err instanceof LeaseholdError
        ? err
        : new LeaseholdError('EIO', `${what ?? 'unexpected error'}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    this.#events.emit({ type: 'error', error: e });
  }

  /**
   * Leaves: an owner stops taking messages, releases the lease, tells its followers who is next and closes
   * them; a follower disconnects. Idempotent; resolves when done.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasOwner = this.#role === 'owner';
    const server = this.#server;
    const lease = this.#lease;
    this.#stop.abort(closedError());
    if (wasOwner && server && lease) {
      // 1. stop taking messages; 2. commit what the journal still holds (mutations acknowledged before
      // their sync, `durable: false`): after the release the successor reads the journal, and this owner
      // may no longer write; 3. release while the followers are still quiet (a transaction on an idle
      // machine is fastest); 4. name the successor (the longest-connected follower), who can acquire at
      // once; 5. close the followers (4005).
      // The designated successor, once it stands by (the others hold links to it), else the longest-connected.
      const successor = (server.standbyReady ? server.successor : undefined) ?? server.peers()[0]?.info.instanceId ?? null;
      debug(`closing: handing epoch ${lease.epoch} over to ${successor ?? 'nobody'}`);
      server.freeze();
      await this.#ownerState?.close();
      this.#ownerState = undefined;
      await lease.release().catch(() => undefined);
      debug('released');
      await server.handOver(successor, Math.min(100, this.#opts.handoverTimeoutMs));
      debug('followers closed');
    } else {
      this.#link?.close();
      this.#standby?.cancel();
      this.#standby = undefined;
      await server?.close();
    }
    this.#server = undefined;
    await this.#running;
    // A listener that contending opened while this close was under way (close() during start-up).
    const late = this.#server as OwnerServer | undefined;
    this.#server = undefined;
    await late?.close();
    await this.#idleClosing;
    this.state.close();
    if (this.#ownsStore) await this.#store.close().catch(() => undefined);
    this.#role = 'closed';
    this.#whenOwner.rejectAll(closedError());
    this.#whenConnected.rejectAll(closedError());
    this.#events.emit({ type: 'closed' });
  }
}

interface Standby {
  instanceId: string;
  endpoint: string;
  secret: string;
  link: Promise<FollowerLink>;
  cancel(): void;
}

/** A successor's record, and a link to it already welcomed. */
interface Followed {
  record: LeaseRecord;
  link: FollowerLink;
}

function closedError(): LeaseholdError {
  return new LeaseholdError('ECLOSED', 'this instance is closed');
}

/** Joins the lease of `options.key` as owner or follower; see {@link Instance}. */
export function join<State = Json>(options: JoinOptions<State>): Instance<State> {
  return new Instance<State>(options);
}

function asCode(code: unknown): ErrorCode {
  return (ErrorCodes as readonly unknown[]).includes(code) ? (code as ErrorCode) : 'EPROTOCOL';
}
