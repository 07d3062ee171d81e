/**
 * `join()`: the role state machine. The only module that composes the lease, the owner's server and the
 * follower's link; each role is a term (owner-term.ts, follower-term.ts) that owns its resources and
 * returns a typed outcome, and this loop decides what comes next.
 *
 *   starting ──acquire ok──▶ owner ──lease lost / deposed──▶ (contend again)
 *      │                       ├──a successor of a newer app version stands by: hand over──▶ follower of it
 *      │                       │
 *      │                       ├──journal damaged (ECORRUPT)──▶ failed ──file repaired──▶ (contend again)
 *      │                       └──state newer than this code (EOUTDATED), a migration fails (EMIGRATION)──▶ failed
 *      └──ECONFLICT──▶ follower (connected to the holder's endpoint) ──owner gone──▶ (contend again)
 *                         └──the owner's state or protocol is newer (EOUTDATED)──▶ failed (until close)
 *                              any state ──close()──▶ closed
 *
 * Contending (contend.ts, steps 0–2): a damaged journal → failed; acquired → an owner term; ECONFLICT → a
 * follower term of the holder. After a follower term, contend again: at once after a crash (the holder's
 * pid is gone), after the successor had its chance on a graceful handover, after the ttl for a hung owner.
 * Guarantees: one serving owner per epoch (the server checks the lease before every connection and every
 * message); followers never accept an owner older than an epoch they have seen; `close()` hands over.
 */
import { nextTurn, sleep } from '../clock.js';
import { debug } from '../debug.js';
import { resolveJoinOptions, type JoinOptions, type ResolvedJoinOptions } from '../config.js';
import { LeaseholdError } from '../errors.js';
import { FileLeaseStore } from '../lease/file-store.js';
import type { LeaseKey } from '../lease/key.js';
import type { LeaseRecord } from '../lease/record.js';
import { toHolder, type Holder, type InstanceEvent, type Role } from './role.js';
import { InstanceStatus } from './status.js';
import { newInstanceId } from '../lease/record-store.js';
import type { Lease, LeaseStore } from '../lease/store.js';
import type { FollowerLink } from '../transport/client.js';
import type { InstanceInfo } from '../transport/protocol.js';
import { replicaOf, SharedState, type Replica } from '../state/shared-state.js';
import { stateDir, type StateOptions } from '../state/owner-handler.js';
import { damageError, markDamaged, untilRepaired, type Damage } from '../state/damage.js';
import { Contender } from './contend.js';
import type { Json } from '../state/document.js';
import type { Action, ActionLike } from '../state/json.js';
import type { OwnerServer } from '../transport/server.js';
import { Listener } from './listener.js';
import { awaitRelease, awaitSuccessor } from './handover.js';
import { FollowerTerm, type FollowerContext, type FollowerOutcome } from './follower-term.js';
import { OwnerTerm, type OwnerContext } from './owner-term.js';
import { Handlers, type RequestHandler } from '../requests/handlers.js';
import { Requester, type RequestOptions } from '../requests/requester.js';

/** What follows a term: a holder to follow (over a link already welcomed), or nothing (contend). */
type Next = { record: LeaseRecord; link?: FollowerLink } | undefined;

export { toHolder, type Holder, type InstanceEvent, type Role };

/** The terms of an instance in its current role (internals.ts). */
// Assigned by Instance's static block, the one place with access to its private fields.
export let termsOf: (i: Instance<unknown>) => { owner: OwnerTerm | undefined; follower: FollowerTerm | undefined };

export class Instance<State = Json, Actions extends ActionLike = Action> {
  readonly instanceId: string;
  readonly key: LeaseKey;
  readonly name: string;
  /** The shared state as this instance sees it (owner or follower). */
  readonly state: SharedState<State, Actions>;
  readonly #opts: ResolvedJoinOptions;
  readonly #store: LeaseStore;
  readonly #ownsStore: boolean;
  /** Role, epoch, holder, presence, failure, and their events and waiters (status.ts). */
  readonly #s = new InstanceStatus();
  readonly #stop = new AbortController();
  readonly #stateOptions: StateOptions;
  readonly #handlers: Handlers;
  readonly #requests: Requester;
  readonly #listener: Listener;
  #owner: OwnerTerm | undefined;
  #follower: FollowerTerm | undefined;
  #closing: Promise<void> | undefined;
  /** Set when the owner left naming this instance its successor: the record it left. */
  #handedOverBy: LeaseRecord | undefined;
  #lastEndpoint: string | undefined;
  /** The damaged file this instance found itself, while it is as it was found. */
  #damage: Damage | undefined;
  #running: Promise<void>;

  constructor(options: JoinOptions<State, Actions>) {
    // The reducers' State is the caller's name for the JSON they get: at run time every state is Json.
    this.#opts = resolveJoinOptions(options as unknown as JoinOptions);
    this.key = this.#opts.key;
    this.name = this.#opts.name;
    this.instanceId = newInstanceId();
    this.state = new SharedState<State, Actions>(this.instanceId, { maxPendingMutations: this.#opts.maxPendingMutations });
    this.#stateOptions = {
      maxValueBytes: this.#opts.maxValueBytes,
      snapshotEvery: this.#opts.snapshotEvery,
      maxFollowerBacklogBytes: this.#opts.maxFollowerBacklogBytes,
      reducers: this.#opts.reducers,
      ...(this.#opts.defaults ? { defaults: this.#opts.defaults } : {}),
      ...(this.#opts.check ? { check: this.#opts.check } : {}),
      versioning: this.#opts.versioning,
      ...(options.journalFs ? { journalFs: options.journalFs } : {}),
    };
    this.#handlers = new Handlers(this.#opts.maxValueBytes);
    this.#requests = new Requester(this.#opts.clock, this.#opts.maxValueBytes);
    this.#ownsStore = options.store === undefined;
    this.#store = options.store ?? new FileLeaseStore({ dataRoot: this.#opts.dataRoot, clock: this.#opts.clock });
    // Serving goes on after an accept error (the unauthenticated connections were dropped to free
    // descriptors); said once.
    this.#listener = new Listener(this.#opts, this.instanceId, this.#root, (err) => this.#s.error(err, 'cannot accept connections'));
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => void this.close());
      else options.signal.addEventListener('abort', () => void this.close(), { once: true });
    }
    this.#running = this.#run().catch((err) => this.#s.error(err));
  }

  get role(): Role {
    return this.#s.role;
  }
  /** The current owner's epoch as known here (0 before any is known). */
  get epoch(): number {
    return this.#s.epoch;
  }
  /** The current owner's record, without secrets. */
  get holder(): Holder | undefined {
    return this.#s.holder;
  }
  /** The owner's endpoint (this instance's own when it owns). */
  get endpoint(): string | undefined {
    return this.#s.holder?.endpoint ?? undefined;
  }
  /** Instances connected to the current owner, the owner first (as last announced). */
  get instances(): InstanceInfo[] {
    return this.#s.instances;
  }
  /**
   * While the role is `failed`: ECORRUPT naming the damaged file (`path`) and where (`offset`); or, until
   * close, EOUTDATED (restart the app to update it) or EMIGRATION (a migration failed).
   */
  get failure(): LeaseholdError | undefined {
    return this.#s.failure;
  }
  /** True when this instance owns, or follows and is connected to the owner. */
  get connected(): boolean {
    return this.#s.role === 'owner' || (this.#s.role === 'follower' && this.#follower?.connected === true);
  }

  on<K extends InstanceEvent['type']>(type: K, listener: (e: Extract<InstanceEvent, { type: K }>) => void): () => void {
    return this.#s.events.on(type, listener);
  }
  subscribe(listener: (e: InstanceEvent) => void): () => void {
    return this.#s.events.subscribe(listener);
  }

  /**
   * Resolves when this instance owns (at once if it does). Rejects ECLOSED if it closes first, and with
   * `failure` (ECORRUPT, EOUTDATED, EMIGRATION) when, or while, its role is `failed`.
   */
  whenOwner(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#s.role === 'owner') return Promise.resolve();
    if (this.#s.role === 'closed') return Promise.reject(closedError());
    if (this.#s.failure) return Promise.reject(this.#s.failure);
    return this.#s.whenOwner.wait(options.signal);
  }

  /** Resolves when this instance owns or is connected to the owner. Rejects as whenOwner() does. */
  whenConnected(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.#s.role === 'closed') return Promise.reject(closedError());
    if (this.#s.failure) return Promise.reject(this.#s.failure);
    return this.#s.whenConnected.wait(options.signal);
  }

  /**
   * Registers the handler of requests named `name` (register it on every instance: it runs on whichever
   * owns when a request arrives). Returns what unregisters it. See requests/handlers.ts.
   */
  handle(name: string, fn: RequestHandler): () => void {
    return this.#handlers.register(name, fn);
  }

  /**
   * Runs the owner's handler `name` with `payload` and resolves with its reply. Waits while there is no
   * owner, and is sent again to the next owner if the one it was sent to fails first: at least once (see
   * requests/requester.ts). Rejects with ENOHANDLER, EHANDLER, the handler's own code (a RequestError),
   * ETIMEOUT (`timeoutMs`), EABORTED (`signal`), ECLOSED, or EPROTOCOL (a bad name or payload, at once).
   */
  request(name: string, payload?: Json, options: RequestOptions = {}): Promise<Json | undefined> {
    return this.#requests.request(name, payload, options);
  }

  /** For internals.ts (tests and fault injection): this role's resources. */
  static {
    termsOf = (i) => ({
      owner: i.#s.role === 'owner' ? i.#owner : undefined,
      follower: i.#s.role === 'follower' ? i.#follower : undefined,
    });
  }

  // ---- the loop ----------------------------------------------------------------------------------

  async #run(): Promise<void> {
    const { retryMinMs, retryMaxMs } = this.#opts.timing;
    const contender = new Contender({
      ...this.#base(),
      listener: this.#listener,
      root: this.#root,
      stateDir: this.#stateDir,
      journalFs: this.#stateOptions.journalFs,
    });
    let next: Next;
    let backoffMs = 0;
    const backOff = () => this.#pause((backoffMs = Math.min(retryMaxMs, backoffMs * 2 || retryMinMs)));
    while (!this.#stop.signal.aborted) {
      if (next) {
        next = await this.#follow(next.record, next.link);
        continue;
      }
      const c = await contender.contend(this.#damage);
      if (c.kind === 'closed') break;
      if (c.kind === 'damaged') await this.#failed(c.damage);
      else if (c.kind === 'retry') await backOff();
      else if (c.kind === 'held') {
        backoffMs = 0;
        const from = this.#handedOverBy;
        this.#handedOverBy = undefined;
        // Named successor, but the old owner has not released yet: wait for its release, then acquire.
        if (from && c.holder.epoch === from.epoch && c.holder.instanceId === from.instanceId) {
          await awaitRelease({ ...this.#base(), signal: this.#stop.signal }, from);
          debug('old owner released');
        } else next = { record: c.holder };
      } else {
        this.#handedOverBy = undefined;
        debug(`acquired epoch ${c.lease.epoch}`);
        // An owner that could not start serving (its journal cannot be written: a full disk) released at
        // once; back off before contending again instead of claiming epoch after epoch in a tight loop. (A
        // damaged journal is step 0 on the next round.)
        const owned = await this.#own(c.lease, c.server);
        next = owned.next;
        if (owned.started) backoffMs = 0;
        else await backOff();
      }
    }
  }

  /**
   * An owner term; `started` false when serving could not even start, and `next` the new owner to follow
   * when this one stepped down to a newer app version.
   */
  async #own(lease: Lease, server: OwnerServer): Promise<{ started: boolean; next?: Next }> {
    const term = (this.#owner = new OwnerTerm(this.#ownerContext(), lease, server));
    const outcome = await term.run();
    if (outcome.kind === 'closed') return { started: true }; // close() hands over
    this.#owner = undefined;
    this.#listener.forget(server);
    if (outcome.kind === 'not-started') return { started: false };
    if (outcome.kind === 'stopped') {
      this.#s.seen(lease.epoch);
      await this.#stopped(outcome.error);
      return { started: true };
    }
    if (outcome.kind === 'stepped-down') {
      // No longer the owner (whenOwner() waits again); the successor acquires as soon as it is told:
      // follow it once its record is there.
      this.#s.setRole('follower');
      const record = await awaitSuccessor({ ...this.#base(), signal: this.#stop.signal }, outcome.record);
      debug(record ? `stepped down: following epoch ${record.epoch}` : 'stepped down: no successor record, contending');
      return { started: true, next: record ? { record } : undefined };
    }
    this.#s.events.emit({ type: 'lost', epoch: lease.epoch, reason: outcome.error.reason ?? 'expired', error: outcome.error });
    await term.release();
    return { started: true };
  }

  /** A follower term of `record`'s holder (over `ready` when a standby link to it is already welcomed). */
  async #follow(record: LeaseRecord, ready?: FollowerLink): Promise<Next> {
    this.#listener.closeIdle();
    this.#s.seen(record.epoch);
    this.#s.setHolder(record);
    this.#s.setRole('follower');
    const endpoint = record.meta.endpoint;
    this.#lastEndpoint = typeof endpoint === 'string' ? endpoint : undefined;
    const term = (this.#follower = new FollowerTerm(this.#followerContext()));
    let outcome: FollowerOutcome;
    try {
      outcome = await term.run(record, ready);
    } finally {
      this.#follower = undefined;
    }
    if (outcome.kind === 'follow') return outcome;
    if (outcome.kind === 'stopped') {
      await this.#stopped(outcome.error);
      return undefined;
    }
    // The chosen successor: the owner announces after its release, so contend at once. (An owner that
    // had not released yet makes the acquisition fail with its record: then wait for the release.)
    if (outcome.kind === 'succeed') this.#handedOverBy = outcome.from;
    return undefined;
  }

  /** What every term and the contender are given. */
  #base() {
    const { clock, timing } = this.#opts;
    const error = (err: unknown, what: string) => this.#s.error(err, what);
    return {
      instanceId: this.instanceId,
      name: this.name,
      appVersion: this.#opts.appVersion,
      stateVersion: this.#opts.versioning.stateVersion,
      key: this.key,
      store: this.#store,
      clock,
      timing,
      stop: this.#stop.signal,
      error,
    };
  }

  #ownerContext(): OwnerContext {
    return {
      ...this.#base(),
      root: this.#root,
      stateDir: this.#stateDir,
      stateOptions: this.#stateOptions,
      state: this.state as unknown as SharedState, // the wire carries Json, whatever State the app declared
      handlers: this.#handlers,
      requests: this.#requests,
      lastEndpoint: this.#lastEndpoint,
      serving: (record, instances) => this.#s.serving(record, instances),
      presence: (instances) => this.#s.presence(instances),
      damaged: (err, epoch) => (this.#damage = markDamaged(this.#stateDir, err, { epoch, instanceId: this.instanceId })),
    };
  }

  #followerContext(): FollowerContext {
    return {
      ...this.#base(),
      replica: replicaOf(this.state),
      requests: this.#requests,
      stateDir: this.#stateDir,
      listen: async () => ({ endpoint: (await this.#listener.listen()).endpoint, secret: this.#listener.secret }),
      connected: (link, via) => {
        this.#s.seen(link.epoch);
        this.#s.instances = link.instances;
        this.#s.events.emit({ type: 'connected', epoch: link.epoch, ownerId: link.ownerId, via });
        this.#s.events.emit({ type: 'presence', instances: link.instances });
        this.#s.whenConnected.resolveAll();
      },
      presence: (instances) => this.#s.presence(instances),
      otherHost: (record) => this.#s.events.emit({ type: 'other-host', holder: toHolder(record), epoch: record.epoch }),
      disconnected: (epoch, why) => this.#s.events.emit({ type: 'disconnected', epoch, why }),
    };
  }

  /**
   * Reports `damage` (role `failed`, its ECORRUPT as an `error` event, waiters rejected), then stays out
   * until the damaged file changes (repaired or moved aside) or close: one stat every DAMAGE_POLL_MS.
   */
  async #failed(damage: Damage): Promise<void> {
    // Found at once from the marker, inside join(): report it after the caller has subscribed.
    await nextTurn();
    if (this.#stop.signal.aborted) return;
    this.#s.seen(damage.epoch);
    debug(`failed: ${damage.path} damaged at offset ${damage.offset}`);
    const replica = this.#reportFailure(damageError(damage));
    await untilRepaired(damage, this.#opts.clock, this.#stop.signal);
    this.#damage = undefined;
    this.#s.failure = undefined;
    replica.refuse(undefined);
    if (!this.#stop.signal.aborted) {
      debug(`${damage.path} changed: contending again`);
      this.#s.role = 'starting';
    }
  }

  /**
   * This code cannot serve or follow the shared state (EOUTDATED: it is newer; EMIGRATION: a migration
   * failed): reported as `#failed` reports damage, then nothing more until close (a restart with other
   * code is the way out).
   */
  async #stopped(error: LeaseholdError): Promise<void> {
    if (this.#stop.signal.aborted) return;
    debug(`stopped: ${error.code} ${error.message}`);
    this.#reportFailure(error);
    await new Promise<void>((resolve) => {
      if (this.#stop.signal.aborted) resolve();
      else this.#stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Role `failed` for `error` (status.ts), idle listeners closed, the replica refusing mutations with it. */
  #reportFailure(error: LeaseholdError): Replica {
    this.#listener.closeIdle();
    const replica = replicaOf(this.state);
    replica.refuse(error);
    this.#s.fail(error);
    return replica;
  }

  get #stateDir(): string {
    return stateDir(this.#root, this.key.pathSegments());
  }

  /** Where leasehold keeps its files: the file store's root, or the data root for other stores. */
  get #root(): string {
    return (this.#store as Partial<FileLeaseStore>).root ?? this.#opts.dataRoot;
  }

  #pause(ms: number): Promise<void> {
    return sleep(this.#opts.clock, ms, this.#stop.signal).catch(() => undefined);
  }

  /**
   * Leaves: an owner stops taking messages, releases the lease, tells its followers who is next and closes
   * them (handover.ts); a follower disconnects. Idempotent; resolves when done.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const owner = this.#s.role === 'owner' ? this.#owner : undefined;
    this.#stop.abort(closedError());
    if (owner) {
      await owner.handOver();
      this.#listener.forget(owner.server);
    } else {
      this.#follower?.close();
      await this.#listener.closeCurrent();
    }
    this.#owner = undefined;
    await this.#running;
    // And a listener that contending opened while this close was under way (close() during start-up).
    await this.#listener.close();
    replicaOf(this.state).close();
    this.#requests.close();
    if (this.#ownsStore) await this.#store.close().catch(() => undefined);
    this.#s.role = 'closed';
    this.#s.whenOwner.rejectAll(closedError());
    this.#s.whenConnected.rejectAll(closedError());
    this.#s.events.emit({ type: 'closed' });
  }
}

function closedError(): LeaseholdError {
  return new LeaseholdError('ECLOSED', 'this instance is closed');
}

/** Joins the lease of `options.key` as owner or follower; see {@link Instance}. */
export function join<State = Json>(options: JoinOptions<State>): Instance<State>;
/** With the app's action union: `reducers` must handle each of its types, and `state.dispatch()` takes only those. */
export function join<State, Actions extends ActionLike>(options: JoinOptions<State, Actions>): Instance<State, Actions>;
export function join<State, Actions extends ActionLike>(options: JoinOptions<State, Actions>): Instance<State, Actions> {
  return new Instance<State, Actions>(options);
}
