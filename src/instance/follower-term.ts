/**
 * One term as a follower: follows one holder's record until that holder goes, and says what comes next.
 *
 *  1. A record without an endpoint (a bare lease): wait for it to change, then contend. A record of
 *     another host whose endpoint is that host's own (127.0.0.1, a Unix socket: every endpoint an owner
 *     advertises): never connect there, nor send the secret (whatever listens on that port here is not
 *     the owner); say so (`other-host`) and wait for the holder to change or the key to be free.
 *  2. Connect (or take the standby link already welcomed by the successor); a failed connection reads
 *     the record for a moment (the owner is starting, just died, or is hung), then contends.
 *  3. Sync the replica and route mutations to the owner (not while it serves an older state version than
 *     this code knows: they wait for the owner to step down to this newer code); serve as its successor
 *     when asked (listen, unserved, and say where) and connect in advance to the successor it names.
 *  4. Stay until the link closes, the successor welcomes the standby link (the owner left), or the record
 *     names someone else (a backstop read every renew interval: a deposed owner may keep its socket;
 *     notifications would wake every follower at every step of every lease transaction).
 *  5. Leave: the route first (before any await), then, by why the link ended: the successor (standby
 *     link, also when the record names its successor before its welcome arrived; else its record), this
 *     instance as the named successor, after a crash (the owner's process
 *     gone) the designated successor over the standby link (for at most handoverTimeoutMs: a successor
 *     that died too fails the link at once), the ttl for a hung owner, or contend.
 *
 * Not guaranteed: that a follower of a stopped (SIGSTOP) owner notices before its heartbeat fails (two
 * heartbeat intervals).
 */
import { nextTurn, sleep, type Clock } from '../clock.js';
import { debug } from '../debug.js';
import { isLeaseholdError, type LeaseholdError } from '../errors.js';
import type { Requester, RequestRoute } from '../requests/requester.js';
import type { ReplyBody } from '../requests/handlers.js';
import type { Timing } from '../config.js';
import type { LeaseKey } from '../lease/key.js';
import type { LeaseRecord } from '../lease/record.js';
import { observe, waitForHolderChange } from '../lease/observe.js';
import { isOnThisMachine, isProcessGone } from '../lease/process-identity.js';
import { isHostLocal } from '../transport/endpoint.js';
import type { LeaseStore } from '../lease/store.js';
import { FollowerLink, type LinkClose, type LinkOptions } from '../transport/client.js';
import type { InstanceInfo } from '../transport/protocol.js';
import type { Reply, StandbyRequest, Successor } from '../transport/codec/to-follower.js';
import { FollowerStateHandler } from '../state/follower-handler.js';
import { prefetch as prefetchJournal } from '../state/journal/index.js';
import { MutationBatcher } from '../state/mutation-batcher.js';
import type { Replica } from '../state/shared-state.js';
import { awaitSuccessor, StandbyLink, type Followed, type HandoverWatch } from './handover.js';

/** What a follower term ends with. */
export type FollowerOutcome =
  /** The holder is gone (crashed, hung past the ttl, deposed), or the instance is closing: contend. */
  | { kind: 'contend' }
  /** The owner handed over to another instance: follow it (over `link` when already welcomed). */
  | { kind: 'follow'; record: LeaseRecord; link?: FollowerLink }
  /** The owner handed over to this instance: contend at once (its record may still be `from`'s). */
  | { kind: 'succeed'; from: LeaseRecord }
  /** The owner's state or protocol is newer than this code (EOUTDATED): the instance stops. */
  | { kind: 'stopped'; error: LeaseholdError };

/** What a follower term needs of its instance. */
/** How long a broken link's owner may still be exiting (its sockets closed, not yet a zombie). */
const OWNER_EXIT_MS = 30;
/** The close code of a connection that ended without a close frame (RFC 6455 §7.1.5). */
const ABNORMAL_CLOSURE = 1006;

export interface FollowerContext {
  readonly instanceId: string;
  readonly name: string;
  readonly appVersion: string;
  /** The state version this code knows (state/migrations.ts); undefined: any. */
  readonly stateVersion: number | undefined;
  readonly key: LeaseKey;
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly timing: Timing;
  /** Aborted when the instance closes. */
  readonly stop: AbortSignal;
  readonly replica: Replica;
  /** This instance's requests to the owner: sent over the link while connected. */
  readonly requests: Requester;
  /** The journal directory, read once in advance by a designated successor. */
  readonly stateDir: string;
  /** The instance's listener (opened if needed): where this instance would serve as the successor. */
  listen(): Promise<{ endpoint: string; secret: string }>;
  connected(link: FollowerLink, via: 'handover' | 'record'): void;
  /** The holder is on another host, out of reach (step 1). */
  otherHost(record: LeaseRecord): void;
  presence(instances: InstanceInfo[]): void;
  disconnected(epoch: number, why: LinkClose['why']): void;
  error(err: unknown, what: string): void;
}

export class FollowerTerm {
  readonly #ctx: FollowerContext;
  #link: FollowerLink | undefined;
  /** A connection to the designated successor, to use when the owner hands over to it. */
  #standby: StandbyLink | undefined;
  /** Called when the standby link to the designated successor is welcomed. */
  #onStandbyServing: ((successor: string) => void) | undefined;

  constructor(ctx: FollowerContext) {
    this.#ctx = ctx;
  }

  /** The link to the owner while connected. */
  get link(): FollowerLink | undefined {
    return this.#link;
  }
  get connected(): boolean {
    return this.#link !== undefined && !this.#link.closed;
  }

  /** The instance closes: leave the owner and the successor. */
  close(): void {
    this.#link?.close();
    this.#standby?.cancel();
    this.#standby = undefined;
  }

  /** Follows `record`'s holder (over `ready` when a standby link to it is already welcomed) until it goes. */
  async run(record: LeaseRecord, ready?: FollowerLink): Promise<FollowerOutcome> {
    const ctx = this.#ctx;
    const endpoint = typeof record.meta.endpoint === 'string' ? record.meta.endpoint : undefined;
    const secret = typeof record.meta.secret === 'string' ? record.meta.secret : undefined;
    // 1. held by something that does not serve (a bare lease): wait for it to go
    if (!endpoint || !secret) {
      await this.#waitRecordChange(ctx.timing.renewIntervalMs);
      return { kind: 'contend' };
    }
    if (!ready && isHostLocal(endpoint) && !isOnThisMachine(record)) {
      debug(`epoch ${record.epoch} is held on ${record.host}, not on this machine: not connecting`);
      ctx.otherHost(record);
      await this.#waitRecordChange(ctx.timing.renewIntervalMs);
      return { kind: 'contend' };
    }
    // 2. connect
    let link: FollowerLink;
    try {
      link = ready ?? (await FollowerLink.connect(this.#linkOptions(endpoint, secret, record.epoch)));
    } catch (err) {
      if (isLeaseholdError(err, 'EOUTDATED')) return { kind: 'stopped', error: err };
      await this.#waitRecordChange(ctx.timing.reconnectPollMs, ctx.timing.reconnectWaitMs);
      return { kind: 'contend' };
    }
    if (ctx.stop.aborted) {
      link.close();
      return { kind: 'contend' };
    }
    if (ready) debug(`connected to epoch ${link.epoch} over the standby link`);
    // 3. sync, route, serve
    this.#link = link;
    const handler = new FollowerStateHandler(link, ctx.replica, (m) => this.#onControl(link, m));
    const closed = new Promise<LinkClose>((resolve) =>
      link.attach({
        onMessage: (m) => (m.t === 'reply' ? ctx.requests.onReply(m.id, replyBody(m)) : handler.onMessage(m)),
        onPresence: (instances) => ctx.presence(instances),
        onClose: resolve,
      }),
    );
    // Catch up from our version, then send again everything not yet acknowledged.
    link.send(handler.syncRequest());
    const batcher = new MutationBatcher(link);
    // Code that knows a newer state version than the one served would write in a shape the state does not
    // have yet (and its writes would then be migrated once more): its mutations wait for an owner that
    // serves its version, which the owner's step-down to the newest code present makes this instance.
    if (ctx.stateVersion === undefined || link.welcome.sv >= ctx.stateVersion)
      ctx.replica.setRoute({ send: (seq, m, durable) => batcher.send(seq, m, durable) });
    else debug(`the owner serves state version ${link.welcome.sv}, older than ${ctx.stateVersion}: mutations wait`);
    const requestRoute: RequestRoute = {
      send: (id, name, payload) => link.send({ t: 'request', epoch: link.epoch, id, name, ...(payload !== undefined ? { payload } : {}) }),
    };
    ctx.requests.setRoute(requestRoute);
    debug(`connected to epoch ${link.epoch}`);
    ctx.connected(link, ready ? 'handover' : 'record');
    // 4. stay
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
      // A graceful owner announces before its release is seen, but the watcher can fire before the socket
      // is read: give an announcement already on its way a moment to arrive.
      // Or the successor's welcome on our standby link: with many followers, it welcomes them one by one.
      const late = await Promise.race([closed, successorServing, sleep(ctx.clock, ctx.timing.lateAnnouncementMs).then(() => undefined)]);
      if (late) outcome = late;
    }
    // 5. leave
    if (outcome === 'record' || outcome === 'aborted') link.close();
    else if (welcomedAway) link.close(true); // it is leaving: no close handshake for either of us to run
    this.#link = undefined;
    handler.leave();
    ctx.replica.setRoute(undefined);
    ctx.requests.leave(requestRoute);
    const why: LinkClose['why'] = typeof outcome === 'string' ? 'closed' : outcome.why;
    const standby = this.#standby;
    this.#standby = undefined;
    debug(
      `left epoch ${link.epoch}: ${typeof outcome === 'string' ? outcome : outcome.why === 'leaving' ? `leaving, successor ${outcome.successor ?? '-'}` : outcome.why}`,
    );
    ctx.disconnected(link.epoch, why);
    // The standby link serves a graceful handover, and a crash: an owner whose process is gone leaves its
    // designated successor (listening, its journal read in advance) to take over first, and the others
    // are welcomed over their standby links instead of contending for the lease and connecting anew.
    // Otherwise the record decides where to go.
    const handover = typeof outcome === 'object' && outcome.why === 'leaving' && outcome.successor !== ctx.instanceId;
    // A link that broke without a close frame (1006: the owner's process may be exiting) waits a moment
    // for that process to be gone, also without a standby link: the designated successor then acquires
    // at once, instead of finding the holder still alive, trying its endpoint and reading the record.
    const crashed =
      typeof outcome === 'object' &&
      outcome.why === 'broken' &&
      (standby !== undefined || outcome.code === ABNORMAL_CLOSURE) &&
      (await this.#gone(record)) &&
      standby !== undefined;
    // The record names the designated successor already, before its welcome reached our standby link (it
    // welcomes the held links one by one): wait for that welcome rather than connect anew.
    const moved =
      outcome === 'record' &&
      standby !== undefined &&
      (await ctx.store.inspect(ctx.key).catch(() => undefined))?.instanceId === standby.instanceId;
    if ((!handover && !crashed && !moved) || ctx.stop.aborted) standby?.cancel();
    if (ctx.stop.aborted || (typeof outcome !== 'object' && !moved)) return { kind: 'contend' };
    if (crashed || moved) {
      const viaStandby = await standby.take(standby.instanceId, record, {
        clock: ctx.clock,
        timeoutMs: ctx.timing.handoverTimeoutMs,
        signal: ctx.stop,
        inspect: () => ctx.store.inspect(ctx.key).catch(() => undefined),
      });
      debug(`owner of epoch ${link.epoch} gone: ${viaStandby ? `following its successor, epoch ${viaStandby.record.epoch}` : 'its successor did not serve'}`);
      if (viaStandby) return { kind: 'follow', ...viaStandby } satisfies Followed & { kind: 'follow' };
      return { kind: 'contend' };
    }
    if (typeof outcome !== 'object') return { kind: 'contend' };
    if (outcome.why === 'leaving') {
      // The chosen successor: the owner announces after its release, so contend at once.
      if (outcome.successor === ctx.instanceId) return { kind: 'succeed', from: record };
      const viaStandby = await standby?.take(outcome.successor, record, {
        clock: ctx.clock,
        timeoutMs: ctx.timing.handoverTimeoutMs,
        signal: ctx.stop,
        inspect: () => ctx.store.inspect(ctx.key).catch(() => undefined),
      });
      if (viaStandby) return { kind: 'follow', ...viaStandby } satisfies Followed & { kind: 'follow' };
      const next = await awaitSuccessor(this.#watch(), record);
      debug(`successor ${next ? `epoch ${next.epoch} seen` : 'not seen in time'}`);
      return next ? { kind: 'follow', record: next } : { kind: 'contend' };
    }
    // A hung owner stops renewing: its lease is free after the ttl, and acquisition takes over. One that
    // only looked hung (too busy to answer in time) keeps renewing: after the ttl, contend again, which
    // fails with ECONFLICT and reconnects to it. Waiting for a record change alone would wait forever.
    if (outcome.why === 'hung') await this.#waitRecordChange(ctx.timing.renewIntervalMs, ctx.timing.ttlMs + ctx.timing.renewIntervalMs);
    return { kind: 'contend' };
  }

  /**
   * Whether the holder's process is gone (same host only). Its sockets close while it exits, a moment
   * before it is a zombie: look again for up to OWNER_EXIT_MS.
   */
  async #gone(holder: LeaseRecord): Promise<boolean> {
    const until = this.#ctx.clock.now() + OWNER_EXIT_MS;
    for (;;) {
      if (isProcessGone(holder)) return true;
      if (this.#ctx.clock.now() >= until || this.#ctx.stop.aborted) return false;
      await sleep(this.#ctx.clock, 2).catch(() => undefined);
    }
  }

  #onControl(link: FollowerLink, m: StandbyRequest | Successor): void {
    if (m.t === 'standby-request') void this.#offerStandby(link);
    else if (m.t === 'successor') this.#prepareStandby(link, m);
  }

  /** Designated as the successor: listen now (unserved; followers' connections are held) and say where. */
  async #offerStandby(link: FollowerLink): Promise<void> {
    try {
      const { endpoint, secret } = await this.#ctx.listen();
      if (link.closed || this.#link !== link) return;
      link.send({ t: 'standby', epoch: link.epoch, endpoint, secret });
      debug(`standing by at ${endpoint} as the successor of epoch ${link.epoch}`);
      const dir = this.#ctx.stateDir;
      void nextTurn().then(() => {
        const { version, lastId } = this.#ctx.replica;
        prefetchJournal(dir, lastId ? { version, id: lastId } : undefined);
      });
    } catch (err) {
      this.#ctx.error(err, 'cannot listen as the designated successor');
    }
  }

  /** Another follower is the successor: connect to it now; it welcomes us when it serves. */
  #prepareStandby(link: FollowerLink, m: Successor): void {
    if (m.instanceId === this.#ctx.instanceId) return;
    const note = { instanceId: m.instanceId, endpoint: m.endpoint, secret: m.secret };
    if (this.#standby?.same(note)) return;
    this.#standby?.cancel();
    this.#standby = new StandbyLink(note, this.#linkOptions(note.endpoint, note.secret, link.epoch + 1), (standby) => {
      if (this.#standby === standby) this.#onStandbyServing?.(standby.instanceId);
    });
  }

  /** How this instance connects to an owner at `endpoint` (never one below `minEpoch`). */
  #linkOptions(endpoint: string, secret: string, minEpoch: number): LinkOptions {
    const ctx = this.#ctx;
    return {
      endpoint,
      secret,
      instanceId: ctx.instanceId,
      name: ctx.name,
      appVersion: ctx.appVersion,
      stateVersion: ctx.stateVersion,
      minEpoch,
      clock: ctx.clock,
      heartbeatIntervalMs: ctx.timing.heartbeatIntervalMs,
      connectTimeoutMs: ctx.timing.connectTimeoutMs,
    };
  }

  #watch(): HandoverWatch {
    const ctx = this.#ctx;
    return { store: ctx.store, key: ctx.key, clock: ctx.clock, timing: ctx.timing, signal: ctx.stop };
  }

  /**
   * `gone` resolves true once the record no longer names `holder` (free, or another holder), looking every
   * renewal interval, first one interval from now (the caller just read it); false when cancelled or on
   * close.
   */
  #holderGone(holder: LeaseRecord): { gone: Promise<boolean>; cancel(): void } {
    const ctx = this.#ctx;
    const cancelled = new AbortController();
    const gone = observe(
      ctx.store,
      ctx.key,
      (seen) =>
        seen.state === 'free' ||
        (seen.state === 'held' && (seen.record.instanceId !== holder.instanceId || seen.record.epoch !== holder.epoch))
          ? true
          : undefined,
      {
        clock: ctx.clock,
        pollIntervalMs: ctx.timing.renewIntervalMs,
        signal: [cancelled.signal, ctx.stop],
        notifications: false,
        readAtOnce: false,
      },
    ).catch(() => false);
    return { gone, cancel: () => cancelled.abort() };
  }

  /** Waits until the key's record changes holder or becomes free, reading every `pollMs`, for at most `maxMs`. */
  async #waitRecordChange(pollMs: number, maxMs?: number): Promise<void> {
    const { clock, store, key, stop } = this.#ctx;
    await waitForHolderChange(store, key, {
      clock,
      pollIntervalMs: pollMs,
      deadline: maxMs === undefined ? undefined : clock.now() + maxMs,
      signal: stop,
    }).catch(() => undefined); // timed out, stopping, or unreadable: contend again
  }
}

/** A reply frame's outcome (decoded: a code comes with a message and no value). */
function replyBody(m: Reply): ReplyBody {
  return m.code !== undefined ? { code: m.code, message: m.message ?? '' } : m.value !== undefined ? { value: m.value } : {};
}
