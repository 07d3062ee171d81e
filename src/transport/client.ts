/**
 * A follower's link to the owner.
 *
 * `FollowerLink.connect()` resolves once the owner's welcome arrived (authenticated, of this protocol
 * version, epoch not older than any seen). Afterwards every frame is decoded by codec/to-follower.ts, and
 * the link reports exactly one `close` with why: the owner left gracefully (`leaving`, with its chosen
 * successor), the socket broke (a crash), the owner missed two heartbeats (hung), or a message broke the
 * protocol or came from another epoch.
 */
import type { WebSocket as WsSocket } from 'ws';
import { ws as wsLib } from '../cjs.js';

const { WebSocket } = wsLib;
type WebSocket = WsSocket;
import type { Clock, Timer } from '../clock.js';
import { LeaseholdError } from '../errors.js';
import { CloseCode, PROTOCOL_VERSION, peekHello, refusedBy, versionRefusal, type InstanceInfo } from './protocol.js';
import { newNonce, proofMatches } from './secret.js';
import { isOutdated, outdatedState } from '../state/migrations.js';
import { DecodeError, unreachable, type ToOwnerFrame } from './codec/fields.js';
import * as toOwner from './codec/to-owner.js';
import * as toFollower from './codec/to-follower.js';

export interface LinkOptions {
  endpoint: string;
  secret: string;
  instanceId: string;
  name: string;
  /** The app's version this instance runs. @default '' */
  appVersion?: string;
  /** The highest epoch this follower has seen: an owner below it is refused. */
  minEpoch: number;
  clock: Clock;
  /** @default 1000 */
  heartbeatIntervalMs?: number;
  /** Give up connecting (and waiting for the welcome) after this long. @default 2000 */
  connectTimeoutMs?: number;
  /**
   * Wait this long for the welcome after the handshake; null waits until cancelled (a standby link to a
   * successor that serves only after a handover). @default connectTimeoutMs
   */
  welcomeTimeoutMs?: number | null;
  /** Largest frame accepted from the owner (snapshots can be large). @default 256 MiB */
  maxPayload?: number;
  /** The state version this instance's code knows (state/migrations.ts): a newer owner's is EOUTDATED. @default any */
  stateVersion?: number | undefined;
}

/**
 * An owner of another protocol version: EOUTDATED when it is newer (this instance must be restarted to
 * update), EPROTOCOL when it is older (it is to be waited out).
 */
function otherVersion(endpoint: string, theirs: number | undefined): LeaseholdError {
  if (theirs !== undefined && theirs > PROTOCOL_VERSION)
    return new LeaseholdError(
      'EOUTDATED',
      `the owner at ${endpoint} speaks protocol ${theirs}, newer than this app's ${PROTOCOL_VERSION}: restart the app to update it`,
      { field: 'protocol' },
    );
  return new LeaseholdError(
    'EPROTOCOL',
    `the owner at ${endpoint} speaks protocol ${theirs ?? 'unknown'}, not this app's ${PROTOCOL_VERSION}: waiting for it to leave`,
  );
}

export type LinkClose =
  | { why: 'leaving'; successor: string | null }
  | { why: 'broken'; code: number; reason: string }
  | { why: 'hung' }
  | { why: 'protocol'; reason: string }
  | { why: 'closed' };

export interface LinkHandlers {
  onMessage(m: toFollower.LinkMessage): void;
  onPresence(instances: InstanceInfo[]): void;
  onClose(c: LinkClose): void;
}

export class FollowerLink {
  readonly welcome: toFollower.Welcome;
  readonly epoch: number;
  readonly ownerId: string;
  instances: InstanceInfo[];
  readonly #ws: WebSocket;
  readonly #clock: Clock;
  readonly #opts: LinkOptions;
  #heartbeat: Timer | undefined;
  #alive = true;
  #closed: LinkClose | undefined;
  #leaving: string | null | undefined;
  #handlers: LinkHandlers | undefined;
  #corked = false;
  /** Events that arrived before attach(): several frames can be parsed from one chunk, in one tick. */
  #queue: (() => void)[] = [];

  private constructor(ws: WebSocket, welcome: toFollower.Welcome, opts: LinkOptions) {
    this.#ws = ws;
    this.welcome = welcome;
    this.epoch = welcome.epoch;
    this.ownerId = welcome.ownerId;
    this.instances = welcome.instances;
    this.#clock = opts.clock;
    this.#opts = opts;
    ws.on('message', (data, isBinary) => {
      if (this.#closed) return;
      // ws has checked that a text frame is UTF-8: its string is what the codec would make of the bytes.
      const msg = isBinary ? new DecodeError('binary frame') : toFollower.decode(data.toString());
      if (msg instanceof DecodeError) return this.#finish({ why: 'protocol', reason: msg.reason }, CloseCode.PROTOCOL);
      if (msg.t === 'welcome') return this.#finish({ why: 'protocol', reason: 'a second welcome' }, CloseCode.PROTOCOL);
      if (msg.epoch !== this.epoch)
        return this.#finish(
          { why: 'protocol', reason: `message from epoch ${msg.epoch} on a link to epoch ${this.epoch}` },
          CloseCode.STALE_EPOCH,
        );
      switch (msg.t) {
        case 'presence': {
          const list = (this.instances = msg.instances);
          return this.#emit((h) => h.onPresence(list));
        }
        case 'leaving':
          // Act on the announcement at once: the owner releases right after sending it.
          this.#leaving = msg.successor;
          return this.#finish({ why: 'leaving', successor: msg.successor });
        case 'standby-request':
        case 'successor':
        case 'snapshot-part':
        case 'snapshot-end':
        case 'changes':
        case 'acks':
        case 'nack':
        case 'synced':
        case 'batch':
        case 'reply':
          return this.#emit((h) => h.onMessage(msg));
        default:
          return unreachable(msg);
      }
    });
    // Anything from the owner proves it alive, not only a pong: under a burst, a pong waits in the stream
    // behind megabytes of changes, and a busy owner is not a hung one.
    ws.on('pong', () => (this.#alive = true));
    ws.on('message', () => (this.#alive = true));
    ws.on('close', (code, reason) => {
      if (this.#leaving !== undefined || code === CloseCode.LEAVING) this.#finish({ why: 'leaving', successor: this.#leaving ?? null });
      else this.#finish({ why: 'broken', code, reason: reason.toString() });
    });
    ws.on('error', () => undefined);
    this.#beat();
  }

  static connect(opts: LinkOptions): Promise<FollowerLink> {
    return FollowerLink.prepare(opts).link;
  }

  /**
   * Connects and says hello; `link` resolves at the welcome. `cancel()` drops the connection: before the
   * welcome it rejects `link`; after, it closes the link that `link` resolved with (nobody may hold it: a
   * link left open answers the owner's pings forever, and the owner refuses another connection in this
   * instance's name while it is there).
   */
  static prepare(opts: LinkOptions): { link: Promise<FollowerLink>; cancel(): void } {
    const clock = opts.clock;
    let cancel: () => void = () => undefined;
    const link = new Promise<FollowerLink>((resolve, reject) => {
      const ws = new WebSocket(opts.endpoint, {
        headers: { authorization: `Bearer ${opts.secret}` },
        perMessageDeflate: false,
        // Client frames must be masked (RFC 6455) so that script in a browser cannot steer bytes through a
        // caching proxy (§10.3). A follower is a local process talking to 127.0.0.1 or a Unix socket with
        // nothing in between: an all-zero mask, which ws then skips, spares a pass over every frame.
        generateMask: (mask: Buffer) => void mask.fill(0),
        maxPayload: opts.maxPayload ?? 256 * 2 ** 20,
        handshakeTimeout: opts.connectTimeoutMs ?? 2000,
      });
      let settled = false;
      let made: FollowerLink | undefined;
      const fail = (err: LeaseholdError) => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        ws.terminate();
        reject(err);
      };
      cancel = () => (made ? made.close(true) : fail(new LeaseholdError('EABORTED', `stopped waiting for the owner at ${opts.endpoint}`)));
      const waitMs = opts.welcomeTimeoutMs === undefined ? (opts.connectTimeoutMs ?? 2000) : opts.welcomeTimeoutMs;
      const timer =
        waitMs === null
          ? undefined
          : clock.setTimeout(
              () => fail(new LeaseholdError('ETIMEOUT', `no welcome from the owner at ${opts.endpoint} within ${waitMs} ms`)),
              waitMs,
            );
      ws.on('error', (err) =>
        fail(new LeaseholdError('EIO', `cannot connect to the owner at ${opts.endpoint}: ${err.message}`, { cause: err })),
      );
      // A refusal as a version counts only with the owner's proof: from anything else on that port (a stale
      // record's), it is one more failed connection, never a reason to stop.
      const nonce = newNonce();
      ws.on('close', (code, reason) => {
        const refused = code === CloseCode.VERSION ? refusedBy(reason.toString()) : undefined;
        fail(
          refused && proofMatches(opts.secret, nonce, refused.proof)
            ? otherVersion(opts.endpoint, refused.v)
            : new LeaseholdError('EPROTOCOL', `the owner at ${opts.endpoint} refused the connection: ${code} ${reason.toString() || ''}`.trim()),
        );
      });
      ws.on('open', () => {
        ws.send(
          toOwner.encode({
            t: 'hello',
            v: PROTOCOL_VERSION,
            nonce,
            epoch: opts.minEpoch,
            instanceId: opts.instanceId,
            name: opts.name,
            pid: process.pid,
            ...(opts.appVersion ? { appVersion: opts.appVersion } : {}),
            ...(opts.stateVersion !== undefined ? { sv: opts.stateVersion } : {}),
          }),
        );
      });
      ws.once('message', (data) => {
        if (settled) return;
        const text = data.toString();
        const welcome = toFollower.decode(text);
        // Another version's welcome need not decode as ours: its version and proof are all that is read.
        const head = welcome instanceof DecodeError ? peekHello(text) : welcome.t === 'welcome' ? welcome : undefined;
        if (head?.t === 'welcome' && !proofMatches(opts.secret, nonce, head.proof)) {
          ws.close(CloseCode.PROTOCOL, 'no proof of the secret');
          return fail(new LeaseholdError('EPROTOCOL', `the server at ${opts.endpoint} did not prove that it holds the owner's secret`));
        }
        if (head?.t === 'welcome' && head.v !== PROTOCOL_VERSION) {
          ws.close(CloseCode.VERSION, versionRefusal());
          return fail(otherVersion(opts.endpoint, head.v));
        }
        if (welcome instanceof DecodeError || welcome.t !== 'welcome') {
          ws.close(CloseCode.PROTOCOL, 'expected welcome');
          const why = welcome instanceof DecodeError ? welcome.reason : `"${welcome.t}" first`;
          return fail(new LeaseholdError('EPROTOCOL', `the owner at ${opts.endpoint} sent no welcome: ${why}`));
        }
        if (welcome.epoch < opts.minEpoch) {
          ws.close(CloseCode.STALE_EPOCH, `epoch ${welcome.epoch} is older than ${opts.minEpoch}`);
          return fail(
            new LeaseholdError('EPROTOCOL', `the owner at ${opts.endpoint} is stale (epoch ${welcome.epoch} < ${opts.minEpoch})`),
          );
        }
        if (isOutdated(welcome.sv, opts.stateVersion)) {
          ws.close(CloseCode.GOING_AWAY, 'outdated');
          return fail(outdatedState(welcome.sv, opts.stateVersion!, `the owner at ${opts.endpoint}`));
        }
        settled = true;
        timer?.cancel();
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        made = new FollowerLink(ws, welcome, opts);
        resolve(made);
      });
    });
    return { link, cancel: () => cancel() };
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  send(message: toOwner.ToOwner): boolean {
    return this.sendRaw(toOwner.encode(message));
  }

  /** Sends a frame already encoded (by codec/to-owner.ts's fast paths). */
  sendRaw(data: ToOwnerFrame): boolean {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#cork();
    this.#ws.send(data);
    return true;
  }

  /** The largest frame the owner accepts. */
  get maxPayload(): number {
    return this.welcome.maxPayload;
  }

  /**
   * Messages sent in one tick leave in one write (one syscall, one wake-up of the owner): an app that
   * issues many mutations at once pays for one, not one each. Uncorked right after this tick.
   */
  #cork(): void {
    if (this.#corked) return;
    const socket = (this.#ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!socket) return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  #beat(): void {
    this.#heartbeat = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      if (!this.#alive) return this.#finish({ why: 'hung' }, CloseCode.HEARTBEAT, true);
      this.#alive = false;
      try {
        this.#ws.ping();
      } catch {
        // the close event follows
      }
      this.#beat();
    }, this.#opts.heartbeatIntervalMs ?? 1000);
  }

  #finish(c: LinkClose, code?: number, terminate = false): void {
    if (this.#closed) return;
    this.#closed = c;
    this.#heartbeat?.cancel();
    if (terminate) this.#ws.terminate();
    else if (code !== undefined && this.#ws.readyState === WebSocket.OPEN) this.#ws.close(code, c.why);
    this.#emit((h) => h.onClose(c));
  }

  #emit(fn: (h: LinkHandlers) => void): void {
    if (this.#handlers) fn(this.#handlers);
    else this.#queue.push(() => fn(this.#handlers!));
  }

  /** Starts delivering events (those that arrived since the welcome first, in order). */
  attach(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    const q = this.#queue;
    this.#queue = [];
    for (const fn of q) fn();
  }

  /** Cuts the connection without a close frame, as a broken network would (fault injection). */
  drop(): void {
    this.#ws.terminate();
  }

  /**
   * Stops reading from the owner for `ms` (fault injection: a stalled socket). The owner's data backs up
   * in the socket, and this link's heartbeat may call the owner hung meanwhile.
   */
  stall(ms: number): void {
    if (this.#closed) return;
    this.#ws.pause();
    this.#clock.setTimeout(() => {
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.resume();
    }, ms);
  }

  /** Closes the link because the owner broke the protocol above this layer: with `code` (4000 or 1009). */
  refuse(reason: string, code: number = CloseCode.PROTOCOL): void {
    this.#finish({ why: 'protocol', reason }, code);
  }

  /**
   * Closes the link on this side: with a close frame, or `abruptly` by closing the socket only (for an
   * owner that is leaving anyway: no close handshake for either side to run at the busiest moment).
   */
  close(abruptly = false): void {
    this.#finish({ why: 'closed' }, CloseCode.GOING_AWAY, abruptly);
  }
}
