/**
 * What both directions' codecs share: field checks, the shape of a message (a check for each of its fields,
 * tied to its type so that a field cannot go unchecked), the frame brands and the one decoding loop.
 *
 * Guarantees: `decodeFrame` never throws, whatever `raw` holds (bytes that are not UTF-8, text that is not
 * JSON, nesting deep enough to exhaust the stack): it returns a message that passed its shape and its
 * type's own rule, or a DecodeError whose reason fits in a close frame (≤ 123 bytes). A message has no
 * fields but its shape's; a field named like one every object inherits (`toString`, `__proto__`) is unknown.
 * No ws, no Node APIs: tested in memory.
 */

/** A frame to the owner, made by to-owner.ts only (a string a caller assembled is not one). */
export type ToOwnerFrame = string & { readonly [direction]: 'to-owner' };
/** A frame to a follower, made by to-follower.ts only. */
export type ToFollowerFrame = string & { readonly [direction]: 'to-follower' };
declare const direction: unique symbol;

/**
 * The longest reason: ASCII (fixed words and a known type's name), so that with a prefix of a few words it
 * stays within a close frame's 123 bytes, past which ws throws.
 */
const MAX_REASON_CHARS = 100;

/** Why a frame was refused (a value, not an exception: hostile input costs no stack trace). */
export class DecodeError {
  constructor(readonly reason: string) {}
}

export type Check = (v: unknown) => boolean;
export const is = {
  str:
    (max = 256): Check =>
    (v) =>
      typeof v === 'string' && v.length <= max,
  nonEmptyStr:
    (max = 256): Check =>
    (v) =>
      typeof v === 'string' && v.length > 0 && v.length <= max,
  int:
    (min = 0): Check =>
    (v) =>
      Number.isSafeInteger(v) && (v as number) >= min,
  number: (): Check => (v) => typeof v === 'number',
  arrayOf:
    (item: Check, max = 10_000): Check =>
    (v) =>
      Array.isArray(v) && v.length <= max && v.every(item),
  oneOf:
    (...values: unknown[]): Check =>
    (v) =>
      values.includes(v),
  nullable:
    (c: Check): Check =>
    (v) =>
      v === null || c(v),
  optional:
    (c: Check): Check =>
    (v) =>
      v === undefined || c(v),
  /** Any JSON value (what JSON.parse made); its meaning is checked where it is used (a mutation: document.ts). */
  json: (): Check => () => true,
  object:
    (shape: Shape): Check =>
    (v) =>
      matches(v, shape),
};

/** A check for each field. */
export type Shape = Readonly<Record<string, Check>>;
/** A check for each field of `M`, optional ones included, and no other. */
export type ShapeOf<M> = { readonly [K in keyof M]-?: Check };
/** The shape of each member of the union `U`, by its `t`. */
export type Shapes<U extends { t: string }> = { readonly [T in U['t']]: ShapeOf<Extract<U, { t: T }>> };

/** A change's id: who sent it and their sequence number; null when nobody did (a reducer's own). */
export type Id = [instanceId: string, seq: number] | null;
export const isId: Check = (v) =>
  v === null || (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && v[0].length <= 64 && Number.isSafeInteger(v[1]));

const own = Object.prototype.hasOwnProperty;
/** Each shape's fields as arrays, made once: a follower checks every change of every batch (tens of thousands a second). */
const compiled = new WeakMap<Shape, { keys: string[]; checks: Check[] }>();

/** True when `v` is a plain object whose fields pass `shape` and that has no other fields. */
export function matches(v: unknown, shape: Shape): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  for (const k in o) if (own.call(o, k) && !own.call(shape, k)) return false;
  let c = compiled.get(shape);
  if (!c) compiled.set(shape, (c = { keys: Object.keys(shape), checks: Object.values(shape) }));
  for (let i = 0; i < c.keys.length; i++) if (!c.checks[i]!(o[c.keys[i]!])) return false;
  return true;
}

/**
 * `v` as a member of `U` when it is an object with a known `t` whose fields pass that type's shape and
 * `rule` (a relation between fields) finds nothing wrong; else why not.
 */
export function asMember<U extends { t: string }>(v: unknown, shapes: Shapes<U>, rule: (m: U) => string | undefined): U | DecodeError {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return new DecodeError('a message is a JSON object');
  const t = (v as { t?: unknown }).t;
  if (typeof t !== 'string' || !own.call(shapes, t)) return new DecodeError('unknown message type');
  // The shape was checked against U's member of this `t` at compile time (ShapeOf): the value now is one.
  if (!matches(v, shapes[t as U['t']])) return new DecodeError(`invalid "${t}" message`);
  const problem = rule(v as U);
  return problem === undefined ? (v as U) : new DecodeError(`invalid "${t}" message: ${problem}`.slice(0, MAX_REASON_CHARS));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses one frame into a member of `U` (see the header); never throws. */
export function decodeFrame<U extends { t: string }>(
  raw: string | Uint8Array,
  shapes: Shapes<U>,
  rule: (m: U) => string | undefined,
): U | DecodeError {
  let v: unknown;
  try {
    v = JSON.parse(typeof raw === 'string' ? raw : utf8.decode(raw));
  } catch {
    return new DecodeError('malformed JSON');
  }
  try {
    return asMember(v, shapes, rule);
  } catch {
    return new DecodeError('invalid message'); // a check that ran out of stack: no input may end the process
  }
}

/** Exhaustiveness: a switch over a union's `t` that reaches this missed a member. */
export function unreachable(m: never): never {
  throw new Error(`unhandled message ${JSON.stringify(m)}`);
}
