/**
 * Admission of raw connections to a listener, before any of them has proved it knows the secret.
 *
 * Every socket the listener accepts is *unauthenticated* until the upgrade handler admits it (its request
 * carried the right secret). Unauthenticated sockets are bounded in number and in time:
 *  1. at most `maxUnauthenticated` at once: when one more arrives, the oldest is destroyed. A legitimate
 *     follower sends its upgrade request in the same write as it connects and is admitted within
 *     milliseconds, so evicting the oldest drops idle connections first; refusing the newest instead would
 *     let a few idle connections lock every follower out;
 *  2. each is destroyed `authTimeoutMs` after it was accepted unless admitted by then;
 *  3. an accept that fails for lack of descriptors (EMFILE, ENFILE) destroys every unauthenticated socket
 *     at once (they are what can be spared), lowers the bound to half of what was held then (the process's
 *     descriptor limit is lower than the bound allowed for), and is reported once per listener
 *     (`onAcceptError`), never thrown.
 * Guarantees: the number of descriptors held by sockets that never authenticated stays at most
 * `maxUnauthenticated` (plus the one being accepted); no socket is ever left without an `error` listener.
 * Not guaranteed: that an authenticated follower's connection survives an eviction while its request is
 * still in flight (it is refused like a broken connection, and the follower connects again).
 */
import type { Server, Socket } from 'node:net';
import type { Clock, Timer } from '../clock.js';

export interface AdmissionOptions {
  clock: Clock;
  /** Sockets accepted and not yet authenticated, at most. @default 64 */
  maxUnauthenticated?: number;
  /** How long a socket may take to authenticate (send its upgrade request with the secret). @default 3000 */
  authTimeoutMs?: number;
}

export const ADMISSION_DEFAULTS = { maxUnauthenticated: 64, authTimeoutMs: 3000 } as const;

export class Admission {
  readonly #clock: Clock;
  #max: number;
  readonly #timeoutMs: number;
  /** Unauthenticated sockets, oldest first (a Map keeps insertion order), with their deadline timer. */
  readonly #pending = new Map<Socket, Timer>();
  #reported = false;
  #evicted = 0;
  /** Called once, with the first accept error (descriptors exhausted); the listener keeps listening. */
  onAcceptError: ((err: NodeJS.ErrnoException) => void) | undefined;

  constructor(server: Server, options: AdmissionOptions) {
    this.#clock = options.clock;
    this.#max = options.maxUnauthenticated ?? ADMISSION_DEFAULTS.maxUnauthenticated;
    this.#timeoutMs = options.authTimeoutMs ?? ADMISSION_DEFAULTS.authTimeoutMs;
    if (!Number.isSafeInteger(this.#max) || this.#max < 1) throw new TypeError('maxUnauthenticated must be a positive integer');
    if (!(this.#timeoutMs > 0)) throw new TypeError('authTimeoutMs must be positive');
    server.on('connection', (socket: Socket) => this.#accepted(socket));
    server.on('error', (err: NodeJS.ErrnoException) => this.#acceptFailed(err));
  }

  /** The bound on unauthenticated sockets now (lowered after descriptors ran out). */
  get maxUnauthenticated(): number {
    return this.#max;
  }

  /** Unauthenticated sockets held now. */
  get unauthenticated(): number {
    return this.#pending.size;
  }

  /** Sockets destroyed so far because they did not authenticate (in time, or before newer ones came). */
  get evicted(): number {
    return this.#evicted;
  }

  /** The socket proved the secret: no longer counted or timed. */
  admit(socket: Socket): void {
    const timer = this.#pending.get(socket);
    if (!timer) return;
    timer.cancel();
    this.#pending.delete(socket);
  }

  /** Destroys every unauthenticated socket (the listener is closing). */
  closeAll(): void {
    for (const socket of [...this.#pending.keys()]) this.#drop(socket);
  }

  #accepted(socket: Socket): void {
    // Before anything can be read from it: a reset connection must never surface as an uncaught error.
    socket.on('error', () => socket.destroy());
    while (this.#pending.size >= this.#max) this.#drop(this.#pending.keys().next().value!);
    const timer = this.#clock.setTimeout(() => this.#drop(socket), this.#timeoutMs);
    this.#pending.set(socket, timer);
    socket.once('close', () => {
      this.#pending.get(socket)?.cancel();
      this.#pending.delete(socket);
    });
  }

  #drop(socket: Socket): void {
    this.#pending.get(socket)?.cancel();
    if (this.#pending.delete(socket)) this.#evicted++;
    socket.destroy();
  }

  #acceptFailed(err: NodeJS.ErrnoException): void {
    if (err.syscall !== 'accept') return; // a failed listen() is its caller's to report
    if (err.code === 'EMFILE' || err.code === 'ENFILE') {
      this.#max = Math.max(1, Math.min(this.#max, Math.floor(this.#pending.size / 2)));
      this.closeAll();
    }
    if (this.#reported) return;
    this.#reported = true;
    this.onAcceptError?.(err);
  }
}
