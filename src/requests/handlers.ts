/**
 * Requests to the owner, the owner's side: the handlers an app registers on every instance
 * (`instance.handle(name, fn)`), and running one for a request, wherever it came from.
 *
 * A handler runs only on the instance that owns when the request reaches it. Its result is the reply: JSON
 * of at most `maxBytes` (undefined is a reply without a value). Its failure is the reply too: an error with a
 * `code` of its own (`/^[A-Z][A-Z0-9_]{0,31}$/`) travels as that code with its message; any other failure
 * as EHANDLER. A request naming no handler gets ENOHANDLER.
 *
 * Not guaranteed: that a handler runs once per request. Delivery is at least once (requester.ts): a request
 * whose owner fails, or whose link breaks, before its reply arrives runs again (on the next owner, or on the
 * same one over the new link), with the same `RequestContext.id`, which a handler with effects outside the
 * shared state can use to recognise a repeat.
 */
import { checkJson } from '../state/document.js';
import type { Json } from '../state/json.js';

/** Who sent a request, and its id (the same each time it is sent again). */
export interface RequestContext {
  /** `${instanceId}:${n}`: unique per request, kept across resends to later owners. */
  readonly id: string;
  /** The requesting instance. */
  readonly from: string;
}

export type RequestHandler = (payload: Json | undefined, context: RequestContext) => Json | undefined | Promise<Json | undefined>;

/** A request's outcome as it travels: a value, or a code and a message. */
export type ReplyBody = { value?: Json } | { code: string; message: string };

const APP_CODE = /^[A-Z][A-Z0-9_]{0,31}$/;

export class Handlers {
  readonly #handlers = new Map<string, RequestHandler>();
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Registers `fn` for `name` (replacing an earlier one); returns what unregisters it. */
  register(name: string, fn: RequestHandler): () => void {
    this.#handlers.set(name, fn);
    return () => {
      if (this.#handlers.get(name) === fn) this.#handlers.delete(name);
    };
  }

  /** Runs the handler for `name`; never rejects (a failure is a reply). */
  async run(name: string, payload: Json | undefined, context: RequestContext): Promise<ReplyBody> {
    const fn = this.#handlers.get(name);
    if (!fn) return { code: 'ENOHANDLER', message: `no handler for request "${name.slice(0, 128)}" on the owner` };
    let value: Json | undefined;
    try {
      value = await fn(payload, context);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const message = String((err as Error | null)?.message ?? err).slice(0, 500);
      return typeof code === 'string' && APP_CODE.test(code) ? { code, message } : { code: 'EHANDLER', message };
    }
    if (value === undefined) return {};
    try {
      checkJson(value, '', this.#maxBytes);
    } catch (err) {
      return { code: 'EHANDLER', message: `the reply to "${name.slice(0, 128)}" is refused: ${(err as Error).message}`.slice(0, 500) };
    }
    return { value };
  }
}
