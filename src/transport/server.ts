/**
 * The owner's server: accepts authenticated followers and nothing else.
 *
 * Lifecycle: LISTENING → SERVING(epoch) → CLOSED. `listen()` binds before the lease is acquired, so the
 * endpoint can be advertised in the same record write; `serve()` starts accepting once the lease is held;
 * `close()` is idempotent. While LISTENING, authenticated followers (they read the endpoint from the new
 * record while this owner rebuilds its state) are held unread, up to 64, and accepted by `serve()`; a
 * server closed without serving closes them with 4003.
 *
 * Guarantees: connections that have not authenticated are bounded in number and time (admission.ts); an
 * upgrade request with an Origin header (any browser page), a Host other than this loopback listener, or
 * a wrong or missing secret is refused with an HTTP status before a WebSocket exists (upgrade-check.ts),
 * so nothing an unauthenticated peer sends is ever parsed as a frame; every socket and WebSocket has an
 * `error` listener from the moment it exists, so no bytes from the network can end the process; every
 * frame is decoded by codec/to-owner.ts (4000 on failure) and size-limited (1009); a hello of another protocol
 * version is refused (4002); a second hello from an instance already
 * connected is refused (4007), and so is a message naming another epoch than this owner's (4004 when
 * older, 4000 when newer); `guard()` (the lease check) runs before each accepted connection and each
 * message, and a failing guard stops the server at once (4003).
 * Not guaranteed: delivery of a message to a follower whose socket breaks (the follower resyncs).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket as WsSocket, WebSocketServer as WsServer } from 'ws';
import { ws as wsLib } from '../cjs.js';

const { WebSocketServer, WebSocket } = wsLib;
/** Followers held (paused) before serve(); more are refused with 4003 and retry. */
const MAX_HELD = 64;
/** Sockets that have not finished their close handshake this long after close() are cut. */
const CLOSE_CUT_MS = 200;
/**
 * Joins and leaves within this window cause one presence broadcast: followers that join together (after a
 * failover) cause one, not one each. Short enough not to be seen, long enough to gather one burst.
 */
export const PRESENCE_COALESCE_MS = 5;
type WebSocket = WsSocket;
type WebSocketServer = WsServer;
import type { Clock, Timer } from '../clock.js';
import { bind, removeStaleSocket, type TransportKind } from './endpoint.js';
import { PeerImpl, type Peer } from './peer.js';
import { Admission, ADMISSION_DEFAULTS } from './admission.js';
import { checkUpgrade, refusalResponse } from './upgrade-check.js';
import { CloseCode, PROTOCOL_VERSION, peekHello, versionRefusal, type InstanceInfo } from './protocol.js';
import { ownerProof } from './secret.js';
import { DecodeError } from './codec/fields.js';
import * as toOwner from './codec/to-owner.js';
import * as toFollower from './codec/to-follower.js';
import { redactRecord, type LeaseRecord } from '../lease/record.js';

/** The owner's application (the state layer plugs in here). */
export interface OwnerHandler {
  /** A follower finished its hello (after welcome was sent). `hello` is its first message. */
  onJoin(peer: Peer, hello: toOwner.Hello): void;
  /** Every message after hello: the state's, and `standby` (the owner term routes it to its handover). */
  onMessage(peer: Peer, message: toOwner.Joined): void;
  onLeave(peer: Peer): void;
}

export type { Peer } from './peer.js';

export interface OwnerServerOptions {
  transport: TransportKind;
  /** Directory for Unix sockets (the data root's leasehold dir). */
  root: string;
  instanceId: string;
  name: string;
  /** The app's version this instance runs (presence). @default '' */
  appVersion?: string;
  /** The state version this instance's code knows (presence). @default none */
  stateVersion?: number;
  secret: string;
  clock: Clock;
  /** Largest frame accepted from a follower. @default 1 MiB */
  maxPayload?: number;
  /** Ping followers this often; one that misses two pings is terminated. @default 1000 */
  heartbeatIntervalMs?: number;
  /** Connections accepted and not yet authenticated, at most (the oldest is dropped). @default 64 */
  maxUnauthenticated?: number;
  /** How long a connection may take to send its upgrade request with the secret. @default 3000 */
  authTimeoutMs?: number;
  /** Joins and leaves within this window cause one presence broadcast. @default PRESENCE_COALESCE_MS */
  presenceCoalesceMs?: number;
  /** Called once if accepting a connection fails (descriptors exhausted); serving goes on. */
  onAcceptError?: (err: NodeJS.ErrnoException) => void;
}

type State = 'listening' | 'serving' | 'leaving' | 'closed';

export class OwnerServer {
  readonly endpoint: string;
  #state: State = 'listening';
  #epoch = 0;
  #guard: () => void = () => undefined;
  #handler: OwnerHandler | undefined;
  #holder: (() => LeaseRecord) | undefined;
  #stateVersion = 0;
  /** The holder's record as last redacted for a welcome (every follower of a handover gets the same one). */
  #redacted: { from: LeaseRecord; record: LeaseRecord } | undefined;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #opts: Required<Omit<OwnerServerOptions, 'onAcceptError' | 'stateVersion'>> & Pick<OwnerServerOptions, 'stateVersion'>;
  readonly #admission: Admission;
  /** The TCP port, or undefined on a Unix socket (the Host header is checked against it). */
  readonly #port: number | undefined;
  readonly #peers = new Map<WebSocket, PeerImpl>();
  /** Authenticated followers that connected before serve(), paused until then. */
  readonly #held = new Set<WebSocket>();
  readonly #socketPath: string | undefined;
  #heartbeat: Timer | undefined;
  #announcing: Timer | undefined;
  readonly #since: number;
  /** Called with the instance list whenever a follower joins or leaves (coalesced, while serving). */
  onPresence: ((instances: InstanceInfo[]) => void) | undefined;
  /** Called when a failing guard stopped the server. */
  onDeposed: ((err: unknown) => void) | undefined;

  private constructor(
    opts: Required<Omit<OwnerServerOptions, 'onAcceptError' | 'stateVersion'>> & Pick<OwnerServerOptions, 'stateVersion'>,
    http: Server,
    admission: Admission,
    endpoint: string,
    port: number | undefined,
    socketPath: string | undefined,
  ) {
    this.#opts = opts;
    this.#http = http;
    this.#admission = admission;
    this.endpoint = endpoint;
    this.#port = port;
    this.#socketPath = socketPath;
    this.#since = opts.clock.wallNow();
    // perMessageDeflate stays off: on small messages it multiplies latency and divides throughput.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false, clientTracking: false });
    http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('leasehold: WebSocket only\n');
    });
  }

  /** Binds the endpoint. Nothing is served until `serve()`. */
  static async listen(options: OwnerServerOptions): Promise<OwnerServer> {
    const { onAcceptError, ...rest } = options;
    const opts: Required<Omit<OwnerServerOptions, 'onAcceptError' | 'stateVersion'>> & Pick<OwnerServerOptions, 'stateVersion'> = {
      maxPayload: 1 << 20,
      heartbeatIntervalMs: 1000,
      maxUnauthenticated: ADMISSION_DEFAULTS.maxUnauthenticated,
      authTimeoutMs: ADMISSION_DEFAULTS.authTimeoutMs,
      presenceCoalesceMs: PRESENCE_COALESCE_MS,
      appVersion: '',
      ...rest,
    };
    const http = createServer();
    http.on('clientError', (_err, socket) => socket.destroy());
    // Counts and times every connection from its accept, before any byte of it is read.
    const admission = new Admission(http, opts);
    admission.onAcceptError = onAcceptError;
    const { endpoint, port, socketPath } = await bind(http, opts.transport, opts.root, opts.instanceId);
    return new OwnerServer(opts, http, admission, endpoint, port, socketPath);
  }

  get state(): State {
    return this.#state;
  }
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Starts accepting followers as the owner of `epoch`. `guard` throws when the lease is no longer held;
   * `holder` gives the lease record as last written, sent without secrets in every welcome.
   */
  /**
   * Serves `epoch` under `guard` (the lease check): `handler` gets the followers' messages, `holder` gives
   * the record each welcome carries, and `stateVersion` is the served state's version (state/migrations.ts).
   */
  serve(epoch: number, guard: () => void, handler?: OwnerHandler, holder?: () => LeaseRecord, stateVersion = 0): void {
    if (this.#state !== 'listening') throw new Error(`cannot serve in state ${this.#state}`);
    this.#state = 'serving';
    this.#epoch = epoch;
    this.#stateVersion = stateVersion;
    this.#guard = guard;
    this.#handler = handler;
    this.#holder = holder;
    this.#scheduleHeartbeat();
    for (const ws of this.#held) {
      this.#held.delete(ws);
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (!this.#stillOwner()) ws.close(CloseCode.NOT_OWNER, 'not the owner');
      else {
        this.#accept(ws);
        ws.resume();
      }
    }
  }

  /** Everyone connected, the owner first. */
  instances(): InstanceInfo[] {
    const self: InstanceInfo = {
      instanceId: this.#opts.instanceId,
      name: this.#opts.name,
      pid: process.pid,
      role: 'owner',
      since: this.#since,
      appVersion: this.#opts.appVersion,
      ...(this.#opts.stateVersion !== undefined ? { stateVersion: this.#opts.stateVersion } : {}),
    };
    return [self, ...[...this.#peers.values()].filter((p) => p.joined).map((p) => p.info)];
  }

  peers(): Peer[] {
    return [...this.#peers.values()].filter((p) => p.joined);
  }

  broadcast(message: toFollower.ToFollower): void {
    const data = toFollower.encode(message);
    for (const p of this.#peers.values()) if (p.joined) p.sendRaw(data);
  }

  /** True while serving and the guard passes; stops the server when the guard fails. */
  #stillOwner(): boolean {
    if (this.#state !== 'serving') return false;
    try {
      this.#guard();
      return true;
    } catch (err) {
      void this.close(CloseCode.NOT_OWNER, 'deposed: no longer the owner');
      this.onDeposed?.(err);
      return false;
    }
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#state === 'closed') return void socket.destroy();
    // 1–2. No browser origin, no foreign Host, and the secret: refused with an HTTP status before a WebSocket
    // (and its frame parser) exists. The socket stays counted as unauthenticated until it is gone.
    const refusal = checkUpgrade(req.headers, this.#opts.secret, this.#port);
    if (refusal) return void socket.end(refusalResponse(refusal), () => socket.destroy());
    this.#admission.admit(socket as Socket);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // Before anything is read from it: a frame that breaks the protocol surfaces as an `error` event.
      ws.on('error', () => ws.terminate());
      // 3. Only the owner serves. Before serve() (this instance is acquiring, or rebuilding the state as a new
      // owner), an authenticated follower that found our endpoint early is held, unread, until serve().
      if (this.#state === 'listening' && this.#held.size < MAX_HELD) {
        ws.pause();
        this.#held.add(ws);
        ws.once('close', () => this.#held.delete(ws));
        return;
      }
      if (!this.#stillOwner()) return ws.close(CloseCode.NOT_OWNER, 'not the owner');
      this.#accept(ws);
    });
  }

  #accept(ws: WebSocket): void {
    const peer = new PeerImpl(ws);
    this.#peers.set(ws, peer);
    // Any frame proves the follower alive; and while we still have data queued for it, our ping waits
    // behind that data, so a missing pong means nothing yet (a follower that falls 8 MiB behind is
    // evicted by the owner's backlog limit instead).
    ws.on('pong', () => (peer.alive = true));
    ws.on('close', () => {
      this.#peers.delete(ws);
      if (peer.joined) {
        this.#handler?.onLeave(peer);
        this.#announce();
      }
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      peer.alive = true;
      if (!this.#stillOwner()) return;
      if (isBinary) return ws.close(CloseCode.PROTOCOL, 'binary frames are not accepted');
      // ws has checked that a text frame is UTF-8: its string is what the codec would make of the bytes.
      const text = data.toString();
      const msg = toOwner.decode(text);
      if (msg instanceof DecodeError) {
        // Another version's hello need not decode as ours: refused as a version (with this owner's proof for
        // its nonce), so that its sender knows.
        const other = peer.joined ? undefined : peekHello(text);
        if (other?.t === 'hello' && other.v !== PROTOCOL_VERSION)
          return ws.close(CloseCode.VERSION, versionRefusal(other.nonce === undefined ? undefined : ownerProof(this.#opts.secret, other.nonce)));
        return ws.close(CloseCode.PROTOCOL, peer.joined ? msg.reason : `expected hello: ${msg.reason}`);
      }
      if (msg.t === 'hello') return peer.joined ? ws.close(CloseCode.PROTOCOL, 'a second hello') : this.#hello(peer, msg);
      if (!peer.joined) return ws.close(CloseCode.PROTOCOL, `expected hello, not "${msg.t}"`);
      // 7. Every follower message carries the epoch of the owner it was meant for: an older one was meant for
      // a previous owner (4004); a newer one no follower can have seen while this owner serves (4000).
      const e = msg.epoch;
      if (e !== this.#epoch)
        return e < this.#epoch
          ? ws.close(CloseCode.STALE_EPOCH, `epoch ${e} is older than this owner's ${this.#epoch}`)
          : ws.close(CloseCode.PROTOCOL, `epoch ${e} is newer than this owner's ${this.#epoch}`);
      this.#handler?.onMessage(peer, msg);
    });
  }

  #hello(peer: PeerImpl, hello: toOwner.Hello): void {
    // 4. Version.
    if (hello.v !== PROTOCOL_VERSION) return peer.close(CloseCode.VERSION, versionRefusal(ownerProof(this.#opts.secret, hello.nonce)));
    // 5. A follower that has seen a newer epoch than ours: we are stale.
    if (hello.epoch > this.#epoch) {
      peer.close(CloseCode.STALE_EPOCH, `owner epoch ${this.#epoch} is older than ${hello.epoch}`);
      return;
    }
    if (hello.instanceId === this.#opts.instanceId) return peer.close(CloseCode.PROTOCOL, 'an instance cannot follow itself');
    // 6. One connection per instance: a second hello with a connected follower's id (it is visible in
    // presence) would act in its name, and its mutations' sequence numbers would shadow the real ones.
    for (const p of this.#peers.values())
      if (p.joined && p.info.instanceId === hello.instanceId) return peer.close(CloseCode.DUPLICATE, 'this instance is already connected');
    peer.info = {
      instanceId: hello.instanceId,
      name: hello.name,
      pid: hello.pid,
      role: 'follower',
      since: this.#opts.clock.wallNow(),
      appVersion: hello.appVersion ?? '',
      ...(hello.sv !== undefined ? { stateVersion: hello.sv } : {}),
    };
    peer.joined = true;
    const welcome: toFollower.Welcome = {
      t: 'welcome',
      v: PROTOCOL_VERSION,
      proof: ownerProof(this.#opts.secret, hello.nonce),
      epoch: this.#epoch,
      ownerId: this.#opts.instanceId,
      instances: this.instances(),
      maxPayload: this.#opts.maxPayload,
      sv: this.#stateVersion,
    };
    if (this.#holder) welcome.holder = this.#redactedHolder(this.#holder());
    peer.send(welcome);
    this.#handler?.onJoin(peer, hello);
    this.#announce();
  }

  /** `record` without secrets, redacted once for as long as it is the holder's latest. */
  #redactedHolder(record: LeaseRecord): LeaseRecord {
    if (this.#redacted?.from !== record) this.#redacted = { from: record, record: redactRecord(record) };
    return this.#redacted.record;
  }

  #announce(): void {
    if (this.#state !== 'serving' || this.#announcing) return;
    this.#announcing = this.#opts.clock.setTimeout(() => {
      this.#announcing = undefined;
      if (this.#state !== 'serving') return;
      const instances = this.instances();
      this.broadcast({ t: 'presence', epoch: this.#epoch, instances });
      this.onPresence?.(instances);
    }, this.#opts.presenceCoalesceMs);
  }

  /** Cuts every follower's connection without a close frame, as a broken network would (fault injection). */
  dropAll(): number {
    let n = 0;
    for (const p of this.#peers.values()) {
      p.ws.terminate();
      n++;
    }
    return n;
  }

  #scheduleHeartbeat(): void {
    this.#heartbeat = this.#opts.clock.setTimeout(() => {
      if (this.#state !== 'serving') return;
      for (const p of this.#peers.values()) {
        if (p.ws.bufferedAmount > 0) p.alive = true;
        if (!p.alive) {
          p.ws.terminate();
          continue;
        }
        p.alive = false;
        try {
          p.ws.ping();
        } catch {
          p.ws.terminate();
        }
      }
      this.#scheduleHeartbeat();
    }, this.#opts.heartbeatIntervalMs);
  }

  /** Stops taking messages and connections (the first step of a handover, handover.ts); followers stay connected. */
  freeze(): void {
    if (this.#state === 'serving') this.#state = 'leaving';
  }

  /** Stops serving, closes every connection with `code`, unbinds. Idempotent. */
  async close(code: number = CloseCode.NOT_OWNER, reason = 'owner closing'): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#admission.closeAll();
    this.#heartbeat?.cancel();
    this.#announcing?.cancel();
    for (const p of this.#peers.values()) p.close(code, reason);
    // Held (paused) sockets are resumed so that their close handshake can complete.
    const held = [...this.#held];
    this.#held.clear();
    for (const ws of held) {
      ws.resume();
      ws.close(CloseCode.NOT_OWNER, 'not the owner');
    }
    const closing = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    // Sockets that do not finish the close handshake promptly are cut.
    const cut = this.#opts.clock.setTimeout(() => {
      for (const ws of held) ws.terminate();
      for (const p of this.#peers.values()) p.ws.terminate();
      this.#http.closeAllConnections();
    }, CLOSE_CUT_MS);
    this.#http.closeIdleConnections();
    await closing;
    cut.cancel();
    if (this.#socketPath) removeStaleSocket(this.#socketPath);
  }
}
