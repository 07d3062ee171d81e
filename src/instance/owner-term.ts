/**
 * One term as the owner: the lease of one epoch, the server that serves it, the owner's state and the
 * handover (handover.ts), owned together and ended together; requests (requests/) run here, the
 * followers' and this instance's own, each reply sent only while the lease check passes.
 *
 *  1. Rebuild the exact state from disk (startOwnerState), then serve under the lease's guard.
 *  2. Serve until the lease is lost (expired, superseded, clock jump, I/O), the server finds itself
 *     deposed (its guard failed), or the instance closes.
 *  3. Lost or deposed: stop serving at once, report `lost`, release. Closing: `handOver()` leaves
 *     gracefully (handover.ts, step 3).
 *  4. A designated successor of a newer app version stands by (an update was launched): leave as on
 *     close, and end the term `stepped-down` so that the instance follows the new owner.
 *
 * Guarantees: one serving owner per epoch (the server checks the lease before every connection and every
 * message; the state checks it before every write and ack). A journal found damaged (ECORRUPT) is marked
 * (damage.ts) before the release, so that no other instance claims an epoch to fail on it again. Not
 * guaranteed: that a term that could not start serving leaves no epoch behind (it claimed one).
 */
import { debug } from '../debug.js';
import { LeaseholdError, isLeaseholdError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Timing } from '../config.js';
import type { LeaseKey } from '../lease/key.js';
import type { LeaseRecord } from '../lease/record.js';
import type { Lease } from '../lease/store.js';
import { removeStaleSocket, socketPathOf } from '../transport/endpoint.js';
import type { InstanceInfo } from '../transport/protocol.js';
import type { OwnerHandler, OwnerServer, Peer } from '../transport/server.js';
import type { Request } from '../transport/codec/to-owner.js';
import type { Handlers } from '../requests/handlers.js';
import type { Requester, RequestRoute } from '../requests/requester.js';
import { startOwnerState, type StateOptions } from '../state/owner-handler.js';
import type { SharedState } from '../state/shared-state.js';
import { OwnerHandover } from './handover.js';

/** What an owner term ends with. */
export type OwnerOutcome =
  /** Serving never started (the journal could not be opened): the lease was released; back off. */
  | { kind: 'not-started' }
  /** This code cannot serve the stored state (EOUTDATED, EMIGRATION): released; the instance stops. */
  | { kind: 'stopped'; error: LeaseholdError }
  /** The lease was lost or the server deposed: it stopped serving and released; contend again. */
  | { kind: 'lost'; error: LeaseholdError }
  /** The instance is closing: `handOver()` ends the term. */
  | { kind: 'closed' }
  /** A successor of a newer app version stood by: this owner handed over to it (released); follow it. */
  | { kind: 'stepped-down'; record: LeaseRecord };

/** What an owner term needs of its instance. */
export interface OwnerContext {
  readonly instanceId: string;
  /** The app version this instance runs: a successor of a newer one makes this owner step down. */
  readonly appVersion: string;
  readonly key: LeaseKey;
  /** The data root (the journal's trusted base) and the state directory under it. */
  readonly root: string;
  readonly stateDir: string;
  readonly stateOptions: StateOptions;
  readonly clock: Clock;
  readonly timing: Timing;
  /** Aborted when the instance closes. */
  readonly stop: AbortSignal;
  readonly state: SharedState;
  /** The app's request handlers, run here while this term serves, and this instance's own requests. */
  readonly handlers: Handlers;
  readonly requests: Requester;
  /** The endpoint of the previous owner this instance followed (its socket file may be left behind). */
  readonly lastEndpoint: string | undefined;
  /** Serving: the instance reports its role. */
  serving(record: LeaseRecord, instances: InstanceInfo[]): void;
  presence(instances: InstanceInfo[]): void;
  /** The journal is damaged: leave the marker (before the release). */
  damaged(err: LeaseholdError, epoch: number): void;
  error(err: unknown, what: string): void;
}

export class OwnerTerm {
  readonly lease: Lease;
  readonly server: OwnerServer;
  readonly #ctx: OwnerContext;
  #ownerState: (OwnerHandler & { close(): Promise<void>; readonly stateVersion: number }) | undefined;
  #handover: OwnerHandover | undefined;

  constructor(ctx: OwnerContext, lease: Lease, server: OwnerServer) {
    this.#ctx = ctx;
    this.lease = lease;
    this.server = server;
  }

  /** The handover's state while serving. */
  get handover(): OwnerHandover | undefined {
    return this.#handover;
  }

  async run(): Promise<OwnerOutcome> {
    const { lease, server } = this;
    const ctx = this.#ctx;
    // A killed owner's socket file stays behind: remove it (ours has another name).
    const stale = ctx.lastEndpoint && socketPathOf(ctx.lastEndpoint);
    if (stale && ctx.lastEndpoint !== server.endpoint) removeStaleSocket(stale);
    // 1. rebuild, then serve
    try {
      this.#ownerState = await startOwnerState({
        dir: ctx.stateDir,
        base: ctx.root,
        epoch: lease.epoch,
        lease,
        shared: ctx.state,
        options: ctx.stateOptions,
        clock: ctx.clock,
        onError: (err) => ctx.error(err, 'the defaults'),
      });
      const handover = new OwnerHandover(server, lease.epoch, ctx.clock, ctx.timing, {
        appVersion: ctx.appVersion,
        stateVersion: ctx.stateOptions.versioning?.stateVersion,
      });
      server.serve(
        lease.epoch,
        () => lease.check(),
        withHandover(this.#ownerState, handover, (peer, request) => this.#onRequest(peer, request)),
        () => lease.record,
        this.#ownerState.stateVersion,
      );
      this.#handover = handover;
      debug(`serving epoch ${lease.epoch} (state version ${ctx.state.version})`);
    } catch (err) {
      // Damage is left for the others to read before the release lets them acquire.
      if (isLeaseholdError(err, 'ECORRUPT')) ctx.damaged(err, lease.epoch);
      else if (!isLeaseholdError(err, 'EOUTDATED') && !isLeaseholdError(err, 'EMIGRATION')) ctx.error(err, 'cannot start serving');
      await lease.release().catch(() => undefined);
      await server.close();
      // A state this code cannot serve (newer, or its migration fails) stays so: no point contending again.
      if (isLeaseholdError(err, 'EOUTDATED') || isLeaseholdError(err, 'EMIGRATION')) return { kind: 'stopped', error: err };
      return { kind: 'not-started' };
    }
    // 2. serve
    let steppingDown = false;
    const deposed = new Promise<void>((resolve) => {
      this.#handover!.onNewer = () => {
        steppingDown = true;
        resolve();
      };
      server.onDeposed = () => resolve();
      lease.lost.addEventListener('abort', () => resolve(), { once: true });
      ctx.stop.addEventListener('abort', () => resolve(), { once: true });
    });
    ctx.serving(lease.record, server.instances());
    // This instance's own requests run here, as long as the lease holds when their reply is ready.
    const local: RequestRoute = {
      send: (id, name, payload) =>
        void ctx.handlers.run(name, payload, { id: `${ctx.instanceId}:${id}`, from: ctx.instanceId }).then((body) => {
          if (this.#holds()) ctx.requests.onReply(id, body); // else it stays pending for the next owner
        }),
    };
    ctx.requests.setRoute(local);
    const handover = this.#handover;
    server.onPresence = (instances) => {
      ctx.presence(instances);
      handover.designate();
    };
    await deposed;
    ctx.requests.leave(local);
    server.onPresence = undefined;
    if (ctx.stop.aborted) return { kind: 'closed' }; // close() hands over
    if (steppingDown && !lease.lost.aborted && server.state === 'serving') {
      // 4. step down to a newer version: leave as close() does, then the instance follows the successor
      const record = lease.record;
      await this.handOver();
      return { kind: 'stepped-down', record };
    }
    // 3. lost (expired, superseded, clock jump, I/O) or deposed: stop serving at once
    handover.cancel();
    await server.close();
    await this.#ownerState?.close();
    this.#ownerState = undefined;
    const error =
      lease.lost.reason instanceof LeaseholdError
        ? lease.lost.reason
        : new LeaseholdError('ELOST', `lease ${ctx.key} lost`, { reason: 'expired' });
    return { kind: 'lost', error };
  }

  /** A follower's request: run the handler, reply if this term still holds its lease. */
  #onRequest(peer: Peer, request: Request): void {
    const from = peer.info.instanceId;
    void this.#ctx.handlers.run(request.name, request.payload, { id: `${from}:${request.id}`, from }).then((body) => {
      if (this.#holds()) peer.send({ t: 'reply', epoch: this.lease.epoch, id: request.id, ...body });
    });
  }

  #holds(): boolean {
    try {
      this.lease.check();
      return true;
    } catch {
      return false;
    }
  }

  /** Releases after `lost` was reported. */
  async release(): Promise<void> {
    await this.lease.release().catch(() => undefined);
  }

  /**
   * The instance closes while this term serves: stop taking messages, commit the journal, release, then
   * hand over (handover.ts, step 3).
   */
  async handOver(): Promise<void> {
    const commit = async () => {
      await this.#ownerState?.close();
      this.#ownerState = undefined;
    };
    const release = () => this.release();
    if (this.#handover) await this.#handover.leave({ commit, release });
    else {
      await commit();
      await release();
      await this.server.close();
    }
  }
}

/** The owner's handler with the handover's messages routed to it, and requests to `onRequest`. */
function withHandover(state: OwnerHandler, handover: OwnerHandover, onRequest: (peer: Peer, request: Request) => void): OwnerHandler {
  return {
    onJoin(peer, hello) {
      handover.onJoin(peer);
      state.onJoin(peer, hello);
    },
    onMessage(peer, message) {
      if (message.t === 'standby') handover.onStandby(peer, message);
      else if (message.t === 'request') onRequest(peer, message);
      else state.onMessage(peer, message);
    },
    onLeave(peer) {
      state.onLeave(peer);
      handover.onLeave();
    },
  };
}
