/**
 * A follower's side of a streamed snapshot (drawn in transport/codec/to-follower.ts): the parts of one version, checked one by one
 * and joined at its end into the document. The owner's side is snapshot-stream.ts.
 *
 * Guarantees: a stream is accepted only as the owner sends it: parts numbered 0, 1, 2, … of one version,
 * nothing else of the state between them, and an end that names the version, the number of parts and the
 * number of characters received, over text that parses as JSON. Anything else is a refusal with 4000
 * (protocol); text past `maxChars` is refused (1009) at the part that goes over it, so a hostile or
 * broken owner never makes a follower hold more than `maxChars` characters. A refusal never throws: the
 * caller closes the link with the code and reason it returns.
 * Not guaranteed: that parsing a large text leaves the loop free meanwhile (JSON.parse runs in one go).
 */
import { CloseCode } from '../transport/protocol.js';
import type { SnapshotEnd, SnapshotPart, ToFollower } from '../transport/codec/to-follower.js';
import type { Json } from './document.js';

/**
 * The most characters of JSON text a follower assembles from one snapshot: the longest string V8 makes
 * (64-bit Node 20 and 22), which the text has to become to be parsed. Past it the stream is refused (1009).
 */
export const SNAPSHOT_MAX_CHARS = 2 ** 29 - 24;

export type Refusal = { refused: { code: number; reason: string } };
/** A complete snapshot. */
export type Assembled = { v: number; state: Json };

/** State messages that may not come between a snapshot's parts. */
const STATE_MESSAGES: ReadonlySet<ToFollower['t']> = new Set(['changes', 'synced', 'acks', 'nack', 'batch'] as const);

const refuse = (reason: string, code: number = CloseCode.PROTOCOL): Refusal => ({ refused: { code, reason } });

export class SnapshotAssembly {
  readonly #maxChars: number;
  /** The version being received, or undefined between streams. */
  #v: number | undefined;
  #parts: string[] = [];
  #chars = 0;

  constructor(maxChars = SNAPSHOT_MAX_CHARS) {
    this.#maxChars = maxChars;
  }

  /** True while a stream has begun and not ended. */
  get receiving(): boolean {
    return this.#v !== undefined;
  }

  /** A refusal when a message of type `t` may not come now (in the middle of a stream). */
  interrupts(t: ToFollower['t']): Refusal | undefined {
    return this.#v !== undefined && STATE_MESSAGES.has(t) ? this.#fail(`"${t}" in the middle of snapshot ${this.#v}`) : undefined;
  }

  /** One `snapshot-part` (decoded: its fields are checked). */
  part(m: Pick<SnapshotPart, 'v' | 'i' | 'text'>): Refusal | undefined {
    if (this.#v === undefined) {
      if (m.i !== 0) return this.#fail(`snapshot part ${m.i} without part 0`);
      this.#v = m.v;
    } else if (m.v !== this.#v) return this.#fail(`snapshot part of version ${m.v} in snapshot ${this.#v}`);
    else if (m.i !== this.#parts.length) return this.#fail(`snapshot part ${m.i} where ${this.#parts.length} was due`);
    if (this.#chars + m.text.length > this.#maxChars)
      return this.#fail(`snapshot over ${this.#maxChars} characters (the most a follower assembles)`, CloseCode.TOO_BIG);
    this.#parts.push(m.text);
    this.#chars += m.text.length;
    return undefined;
  }

  /** The `snapshot-end`: the document, or a refusal. */
  end(m: Pick<SnapshotEnd, 'v' | 'parts' | 'chars'>): Assembled | Refusal {
    const v = this.#v;
    if (v === undefined) return this.#fail('snapshot end without a snapshot');
    if (m.v !== v || m.parts !== this.#parts.length || m.chars !== this.#chars)
      return this.#fail(`snapshot end (${m.v}, ${m.parts} parts, ${m.chars} chars) does not match what came`);
    const text = this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('');
    this.#reset();
    try {
      return { v, state: JSON.parse(text) as Json };
    } catch {
      return refuse(`snapshot ${v} is not JSON`);
    }
  }

  #fail(reason: string, code?: number): Refusal {
    this.#reset();
    return refuse(reason, code);
  }

  #reset(): void {
    this.#v = undefined;
    this.#parts = [];
    this.#chars = 0;
  }
}
