/**
 * An instance's listener: bound (with a fresh secret) before each acquisition, so the endpoint goes into
 * the same record write; then served by the owner term, or kept unserved by a designated successor (its
 * followers' standby connections are held until it serves), or closed when the instance follows.
 * At most one at a time; one that no longer listens (it served, or closed) is replaced by the next listen().
 */
import type { ResolvedJoinOptions } from '../config.js';
import { OwnerServer, type OwnerServerOptions } from '../transport/server.js';
import { newSecret } from '../transport/secret.js';

export class Listener {
  readonly #options: Omit<OwnerServerOptions, 'secret'>;
  #server: OwnerServer | undefined;
  #secret = '';
  /** Idle listeners closed without waiting (awaited by close()). */
  #idleClosing: Promise<void>[] = [];

  constructor(opts: ResolvedJoinOptions, instanceId: string, root: string, onAcceptError: OwnerServerOptions['onAcceptError']) {
    const t = opts.timing;
    this.#options = {
      transport: opts.transport,
      root,
      instanceId,
      name: opts.name,
      appVersion: opts.appVersion,
      ...(opts.versioning.stateVersion !== undefined ? { stateVersion: opts.versioning.stateVersion } : {}),
      clock: opts.clock,
      maxPayload: opts.maxPayload,
      heartbeatIntervalMs: t.heartbeatIntervalMs,
      maxUnauthenticated: opts.maxUnauthenticated,
      authTimeoutMs: t.authTimeoutMs,
      presenceCoalesceMs: t.presenceCoalesceMs,
      ...(onAcceptError ? { onAcceptError } : {}),
    };
  }

  /** The current server (listening, serving or closed), if any. */
  get server(): OwnerServer | undefined {
    return this.#server;
  }
  /** The secret of the current server. */
  get secret(): string {
    return this.#secret;
  }

  /** The listening server, bound now unless one still listens. */
  async listen(): Promise<OwnerServer> {
    if (this.#server && this.#server.state === 'listening') return this.#server;
    this.#secret = newSecret();
    this.#server = await OwnerServer.listen({ ...this.#options, secret: this.#secret });
    return this.#server;
  }

  /**
   * A follower does not listen: close an idle listener. Not awaited: nobody knows its endpoint (it never
   * served), and the close completes only in a later turn of the event loop (at start-up, only after the
   * first timer: awaiting it would delay a new follower's report of its role).
   */
  closeIdle(): void {
    if (this.#server && this.#server.state === 'listening') {
      this.#idleClosing.push(this.#server.close());
      this.#server = undefined;
    }
  }

  /** Forgets `server` (its term closed it). */
  forget(server: OwnerServer): void {
    if (this.#server === server) this.#server = undefined;
  }

  /** Closes the current server. */
  async closeCurrent(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }

  /** Closes the current server, and waits for the idle ones closing. */
  async close(): Promise<void> {
    await this.closeCurrent();
    await Promise.all(this.#idleClosing);
  }
}
