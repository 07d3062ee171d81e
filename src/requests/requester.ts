/**
 * Requests to the owner, the requesting side: `instance.request(name, payload)` on any instance, the owner
 * included. A request waits while there is no owner, is sent to the owner as soon as there is one (over the
 * follower's link, or to its own handlers when this instance owns), and is sent again to each next owner
 * until a reply arrives, it times out, its signal aborts, or the instance closes.
 *
 * Guarantees: at least once. A request is answered by exactly one reply (the first to arrive); it is sent
 * again only over a new route (a new owner, or a new link to the same one after the old link broke: its
 * reply may have been lost with it), never twice over one, in the order the requests were made, with the
 * same id (so a handler can recognise a repeat: handlers.ts). Not guaranteed: at most once (an owner that
 * ran the handler and failed, or whose link broke, before its reply arrived runs it again), or an order
 * between requests and mutations.
 */
import type { Clock, Timer } from '../clock.js';
import { LeaseholdError } from '../errors.js';
import type { Json } from '../state/json.js';
import type { ReplyBody } from './handlers.js';
import { checkJson } from '../state/document.js';
import { MAX_REQUEST_NAME } from '../transport/codec/to-owner.js';

/** Where requests go now: an owner. */
export interface RequestRoute {
  send(id: number, name: string, payload: Json | undefined): void;
}

/** A handler failed with a code of its own (handlers.ts): `code` is that code. */
export class RequestError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RequestError';
    this.code = code;
  }
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Rejects with ETIMEOUT after this long (waiting for an owner included). @default no limit */
  timeoutMs?: number;
}

interface Pending {
  name: string;
  payload: Json | undefined;
  resolve(v: Json | undefined): void;
  reject(e: Error): void;
  /** The route it was last sent over. */
  sentOver?: RequestRoute;
}

export class Requester {
  readonly #clock: Clock;
  readonly #maxBytes: number;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #route: RequestRoute | undefined;
  #closed = false;

  /** `maxBytes`: the largest payload (the instance's maxValueBytes). */
  constructor(clock: Clock, maxBytes: number) {
    this.#clock = clock;
    this.#maxBytes = maxBytes;
  }

  /** How many requests wait for their reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Rejects at once with EPROTOCOL for a name or payload the owner would refuse (the payload is copied). */
  request(name: string, payload: Json | undefined, options: RequestOptions = {}): Promise<Json | undefined> {
    if (this.#closed) return Promise.reject(new LeaseholdError('ECLOSED', 'the instance is closed'));
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_REQUEST_NAME)
      return Promise.reject(new LeaseholdError('EPROTOCOL', `a request name is a string of 1 to ${MAX_REQUEST_NAME} characters`));
    try {
      if (payload !== undefined) checkJson(payload, '', this.#maxBytes);
    } catch (err) {
      return Promise.reject(new LeaseholdError('EPROTOCOL', `the payload of request "${name}" is refused: ${(err as Error).message}`));
    }
    payload = payload === undefined ? undefined : structuredClone(payload);
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new LeaseholdError('EABORTED', `request "${name}" aborted`, { cause: signal.reason }));
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      let timer: Timer | undefined;
      const onAbort = () => this.#end(id, new LeaseholdError('EABORTED', `request "${name}" aborted`, { cause: signal?.reason }));
      const done = () => {
        timer?.cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      this.#pending.set(id, {
        name,
        payload,
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined)
        timer = this.#clock.setTimeout(
          () => this.#end(id, new LeaseholdError('ETIMEOUT', `request "${name}" got no reply within ${timeoutMs} ms`)),
          timeoutMs,
        );
      if (this.#route) this.#send(id, this.#pending.get(id)!, this.#route);
    });
  }

  /** A new owner (or none): every request not yet sent over it is sent now, in order. */
  setRoute(route: RequestRoute | undefined): void {
    this.#route = route;
    if (route) for (const [id, p] of [...this.#pending]) if (p.sentOver !== route) this.#send(id, p, route);
  }

  /** Stops using `route` if it is still the current one (its owner is gone): requests wait for the next. */
  leave(route: RequestRoute): void {
    if (this.#route === route) this.#route = undefined;
  }

  /** The reply to request `id` (a late or repeated one is ignored). */
  onReply(id: number, body: ReplyBody): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if ('code' in body) p.reject(toError(body.code, body.message));
    else p.resolve(body.value);
  }

  /** Rejects everything pending (the instance closed). */
  close(): void {
    this.#closed = true;
    this.#route = undefined;
    for (const id of [...this.#pending.keys()]) this.#end(id, new LeaseholdError('ECLOSED', 'the instance closed before the reply arrived'));
  }

  #send(id: number, p: Pending, route: RequestRoute): void {
    p.sentOver = route;
    route.send(id, p.name, p.payload);
  }

  #end(id: number, err: Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.reject(err);
  }
}

/** ENOHANDLER and EHANDLER as LeaseholdErrors; a handler's own code as a RequestError. */
function toError(code: string, message: string): Error {
  return code === 'ENOHANDLER' || code === 'EHANDLER' ? new LeaseholdError(code, message) : new RequestError(code, message);
}
