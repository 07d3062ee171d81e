/**
 * Graceful handover: the policy the transport only carries frames for, on both sides.
 *
 * Owner side (OwnerHandover), one state machine per term:
 *
 *   waiting ──designateAfterMs after serve(), at a presence change──▶ requested(id) ──`standby` from id──▶
 *   standing-by(id, endpoint, secret) ──close(), or id runs a newer app version (step down)──▶ leaving ──▶ left
 *        ▲                       │                          │
 *        └── the choice changed (it left, or a newer app version joined) ┘
 *
 *  1. Designate: the follower running the newest app version (app-version.ts), the longest-connected of
 *     those, is asked to listen (`standby-request`); not in the first designateAfterMs of serving, when a
 *     failover's welcomes still run on the same cores (a handover in that window falls back to the record:
 *     slower, still correct).
 *  2. Relay: once it says where (`standby`), the others are told (`successor`), now and at their join, and
 *     connect to it in advance; it holds those sockets unread. A successor that runs a newer app version
 *     than this owner (an update was installed and launched) makes this owner step down (`onNewer`): it
 *     leaves as in 3 and then follows, so that the newest version present owns, as client-go's leader
 *     election hands over to a preferred holder.
 *  3. Leave (close()): stop taking messages; commit what the journal holds; release while the followers
 *     are quiet; tell `leaving` to the successor alone, so it acquires on a quiet machine; wait up to
 *     handoverLingerMs for the others to leave by themselves (its welcome on their standby link tells them);
 *     tell whoever is left and close them (4005). Without a successor standing by, everyone is told at once.
 *
 * Follower side: a StandbyLink to the designated successor, held until it serves (its welcome means this
 * owner left, whether or not its `leaving` arrived yet); after `leaving` names another instance, the
 * welcomed standby link, else the successor's record as soon as it appears (awaitSuccessor); the named
 * successor itself waits for the old owner's release only when its acquisition meets the old record
 * (awaitRelease).
 *
 * Not guaranteed: that the successor takes over (it may die): the others then wait handoverTimeoutMs for
 * its record and contend, as after a crash.
 */
import { sleep, type Clock, type Timer } from '../clock.js';
import { compareCode, newest, type CodeVersion } from './app-version.js';
import { debug } from '../debug.js';
import type { Timing } from '../config.js';
import type { LeaseKey } from '../lease/key.js';
import type { LeaseRecord } from '../lease/record.js';
import { observe, type Observation } from '../lease/observe.js';
import type { LeaseStore } from '../lease/store.js';
import { FollowerLink, type LinkOptions } from '../transport/client.js';
import { CloseCode } from '../transport/protocol.js';
import type { Standby } from '../transport/codec/to-owner.js';
import type { OwnerServer, Peer } from '../transport/server.js';

type Phase = 'waiting' | 'requested' | 'standing-by' | 'leaving' | 'left';

/** The owner's side of a handover for one term (one epoch of serving). */
export class OwnerHandover {
  #phase: Phase = 'waiting';
  readonly #server: OwnerServer;
  readonly #epoch: number;
  readonly #clock: Clock;
  readonly #timing: Pick<Timing, 'designateAfterMs' | 'handoverLingerMs'>;
  readonly #servingSince: number;
  #designating: Timer | undefined;
  /** The follower asked to stand by, and where it will serve once it said so. */
  #designated: string | undefined;
  #standby: { instanceId: string; endpoint: string; secret: string } | undefined;
  #onLeave: (() => void) | undefined;
  readonly #own: CodeVersion;
  /** Called once a successor of newer code than this owner's (app-version.ts) stands by: step down. */
  onNewer: (() => void) | undefined;

  /** Created when `server` starts serving `epoch`; `own` is this owner's code (app-version.ts). */
  constructor(
    server: OwnerServer,
    epoch: number,
    clock: Clock,
    timing: Pick<Timing, 'designateAfterMs' | 'handoverLingerMs'>,
    own: CodeVersion = { appVersion: '' },
  ) {
    this.#server = server;
    this.#epoch = epoch;
    this.#clock = clock;
    this.#timing = timing;
    this.#servingSince = clock.now();
    this.#own = own;
  }

  get phase(): Phase {
    return this.#phase;
  }
  /** True once the designated successor has said where it will serve, and the others were told. */
  get standbyReady(): boolean {
    return this.#standby !== undefined;
  }

  /** 1. At every (coalesced) presence change while serving. */
  designate(): void {
    if (this.#phase !== 'waiting' && this.#phase !== 'requested' && this.#phase !== 'standing-by') return;
    const wait = this.#servingSince + this.#timing.designateAfterMs - this.#clock.now();
    if (wait > 0) {
      this.#designating ??= this.#clock.setTimeout(() => {
        this.#designating = undefined;
        if (this.#server.state === 'serving') this.designate();
      }, wait);
      return;
    }
    // The newest app version present (an auto-update in progress), the longest-connected among those.
    const first = newest(this.#server.peers(), (p) => p.info);
    if (first?.info.instanceId === this.#designated) return;
    this.#designated = first?.info.instanceId;
    this.#standby = undefined;
    this.#phase = first ? 'requested' : 'waiting';
    first?.send({ t: 'standby-request', epoch: this.#epoch });
  }

  /** 2. The designated successor says where it will serve: tell the others. */
  onStandby(peer: Peer, msg: Standby): void {
    if (peer.info.instanceId !== this.#designated) return; // stale: designated someone else since
    this.#standby = { instanceId: peer.info.instanceId, endpoint: msg.endpoint, secret: msg.secret };
    this.#phase = 'standing-by';
    for (const p of this.#server.peers()) if (p !== peer) p.send({ t: 'successor', epoch: this.#epoch, ...this.#standby });
    if (compareCode(peer.info, this.#own) > 0) {
      debug(`successor ${peer.info.instanceId} runs newer code (${JSON.stringify(peer.info.stateVersion ?? null)}, ${peer.info.appVersion}): stepping down`);
      this.onNewer?.();
    }
  }

  /** A follower finished its hello: tell it where the successor stands by, if one does. */
  onJoin(peer: Peer): void {
    if (this.#standby) peer.send({ t: 'successor', epoch: this.#epoch, ...this.#standby });
  }

  onLeave(): void {
    this.#onLeave?.();
  }

  /**
   * 3. Leaves gracefully: `commit` syncs the journal, `release` releases the lease; the successor is the
   * one standing by, else the longest-connected follower (told at the same time as everyone).
   */
  async leave(steps: { commit(): Promise<void>; release(): Promise<void> }): Promise<void> {
    if (this.#phase === 'leaving' || this.#phase === 'left') return;
    this.#designating?.cancel();
    const server = this.#server;
    const successor = (this.#standby ? this.#designated : undefined) ?? newest(server.peers(), (p) => p.info)?.info.instanceId ?? null;
    this.#phase = 'leaving';
    debug(`closing: handing epoch ${this.#epoch} over to ${successor ?? 'nobody'}`);
    server.freeze();
    await steps.commit();
    await steps.release();
    debug('released');
    if (server.state === 'leaving') {
      const next =
        successor !== null && this.#standby?.instanceId === successor
          ? server.peers().find((p) => p.info.instanceId === successor)
          : undefined;
      if (next) {
        await announceLeaving(successor, [next], this.#epoch);
        const others = () => server.peers().some((p) => p !== next);
        if (others())
          await new Promise<void>((resolve) => {
            const timer = this.#clock.setTimeout(done, this.#timing.handoverLingerMs);
            function done() {
              timer?.cancel();
              resolve();
            }
            this.#onLeave = () => {
              if (!others()) done();
            };
          });
        this.#onLeave = undefined;
      }
      await announceLeaving(successor, server.peers(), this.#epoch);
    }
    await server.close(CloseCode.LEAVING, 'owner leaving');
    this.#phase = 'left';
    debug('followers closed');
  }

  /** The term ended without a handover (lost, deposed). */
  cancel(): void {
    this.#designating?.cancel();
    this.#phase = 'left';
  }
}

/** Tells `peers` that this owner is leaving and who owns next; resolves once it is written to each. */
function announceLeaving(successor: string | null, peers: Peer[], epoch: number): Promise<unknown> {
  return Promise.all(peers.map((p) => p.sendFlushed({ t: 'leaving', epoch, successor })));
}

/** A successor's record, and a link to it already welcomed. */
export interface Followed {
  record: LeaseRecord;
  link: FollowerLink;
}

/** A follower's connection to the designated successor, made in advance and welcomed when it serves. */
export class StandbyLink {
  readonly instanceId: string;
  readonly endpoint: string;
  readonly secret: string;
  readonly #link: Promise<FollowerLink>;
  readonly cancel: () => void;

  /** Connects to the successor `note` names; `onServing` runs once it welcomes this link. */
  constructor(note: { instanceId: string; endpoint: string; secret: string }, options: LinkOptions, onServing: (s: StandbyLink) => void) {
    this.instanceId = note.instanceId;
    this.endpoint = note.endpoint;
    this.secret = note.secret;
    const prepared = FollowerLink.prepare({ ...options, endpoint: note.endpoint, secret: note.secret, welcomeTimeoutMs: null });
    this.#link = prepared.link;
    this.cancel = prepared.cancel;
    this.#link.then(
      () => onServing(this),
      () => undefined,
    );
  }

  /** True when this link goes to `note`'s successor at the same place. */
  same(note: { instanceId: string; endpoint: string }): boolean {
    return this.instanceId === note.instanceId && this.endpoint === note.endpoint;
  }

  /**
   * After the owner left naming `successor`: this link once welcomed (within timeoutMs), with the
   * successor's record from the welcome (or, from a server given none, the store); undefined (and cancelled) otherwise.
   */
  async take(
    successor: string | null,
    old: LeaseRecord,
    p: { clock: Clock; timeoutMs: number; signal: AbortSignal; inspect: () => Promise<LeaseRecord | undefined> },
  ): Promise<Followed | undefined> {
    if (this.instanceId !== successor) {
      this.cancel();
      return undefined;
    }
    const timeout = sleep(p.clock, p.timeoutMs, p.signal).then(
      () => undefined,
      () => undefined,
    );
    const link = await Promise.race([this.#link.catch(() => undefined), timeout]);
    if (!link) {
      this.cancel();
      return undefined;
    }
    // The endpoint and secret are those the old owner passed on, which this link just proved.
    const holder = link.welcome.holder;
    const record = holder ? { ...holder, meta: { ...holder.meta, endpoint: this.endpoint, secret: this.secret } } : await p.inspect();
    if (!record || record.epoch !== link.epoch || record.instanceId !== link.ownerId || record.epoch <= old.epoch) {
      link.close();
      return undefined;
    }
    return { record, link };
  }
}

/** How a waiting instance reads the record during a handover. */
export interface HandoverWatch {
  store: LeaseStore;
  key: LeaseKey;
  clock: Clock;
  timing: Pick<Timing, 'handoverPollMs' | 'handoverTimeoutMs'>;
  signal: AbortSignal;
}

/** After a graceful handover to another instance: the successor's record as soon as it appears. */
export function awaitSuccessor(w: HandoverWatch, old: LeaseRecord): Promise<LeaseRecord | undefined> {
  return awaitRecord(w, (seen) => (seen.state === 'held' && seen.record.epoch > old.epoch ? seen.record : undefined));
}

/** The named successor, whose acquisition met the old owner's record: until it is released (or unreadable). */
export async function awaitRelease(w: HandoverWatch, old: LeaseRecord): Promise<void> {
  await awaitRecord(w, (seen) => (seen.state !== 'held' || seen.record.epoch !== old.epoch ? true : undefined));
}

/**
 * Reads the key's state at every change notification (at least every handoverPollMs) until `look`
 * returns a value, for at most handoverTimeoutMs or until the signal; undefined then.
 */
function awaitRecord<T>(w: HandoverWatch, look: (seen: Observation) => T | undefined): Promise<T | undefined> {
  return observe(w.store, w.key, look, {
    clock: w.clock,
    pollIntervalMs: w.timing.handoverPollMs,
    deadline: w.clock.now() + w.timing.handoverTimeoutMs,
    signal: w.signal,
  }).catch(() => undefined);
}
