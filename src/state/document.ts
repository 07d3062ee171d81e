/**
 * The shared state: a JSON document changed only by mutations, each applied atomically.
 *
 * Guarantees: `apply` either returns a new document (copy-on-write along the path; the input is never
 * modified) or throws EPROTOCOL naming the path, leaving nothing
 * changed; paths never touch `__proto__`, `constructor` or `prototype`; a value over `maxValueBytes`
 * is refused. The document it works on is a `Doc`: JSON in which an object wider than
 * WIDE_OBJECT_MIN_KEYS may be held as a WideObject, so that a change costs O(depth × log width)
 * (wide-object.ts), and an array of WIDE_ARRAY_MIN_LENGTH elements or more as a WideArray (wide-array.ts), so that
 * pushing onto a long array, or changing one element of it, costs O(log length); `view()` gives the plain
 * JSON, with the key order plain objects would have.
 *
 * Paths are dot-separated (`todos.3.done`); a segment that is a non-negative integer indexes an array.
 */
import { LeaseholdError } from '../errors.js';
import type { Json, Mutation } from './json.js';
import { markHoldsWide, mayHoldWide, WIDE_OBJECT_MIN_KEYS, WIDE_OBJECT_PLAIN_BELOW, WideObject, type Doc } from './wide-object.js';
import { WIDE_ARRAY_MIN_LENGTH, WIDE_ARRAY_PLAIN_BELOW, WideArray } from './wide-array.js';

export type { Json, Mutation, Doc };

export const MUTATION_OPS = ['set', 'delete', 'increment', 'push', 'remove-at', 'batch', 'dispatch'] as const;
/** The most mutations in one batch. */
export const MAX_BATCH_OPS = 10_000;
/** Keys no path or value may use (prototype pollution). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** @default 256 KiB: one mutation's value. */
export const DEFAULT_MAX_VALUE_BYTES = 256 * 1024;
const MAX_DEPTH = 64;

function bad(path: string, why: string): LeaseholdError {
  return new LeaseholdError('EPROTOCOL', `invalid mutation at "${path}": ${why}`, { field: path });
}

/** Recently parsed paths (apps mutate the same few paths over and over); emptied when full. */
const parsedPaths = new Map<string, readonly string[]>();
const PARSED_PATHS_MAX = 4096;

/** The segments of a valid path (a shared, frozen array: do not modify). */
export function parsePath(path: string): readonly string[] {
  const known = parsedPaths.get(path);
  if (known) return known;
  const parts = splitPath(path);
  if (parsedPaths.size >= PARSED_PATHS_MAX) parsedPaths.clear();
  parsedPaths.set(path, Object.freeze(parts));
  return parts;
}

/** The segments of a valid path, checked as {@link parsePath} checks them, without keeping them (replay). */
export function splitPath(path: string): string[] {
  if (typeof path !== 'string') throw bad(String(path), 'a path is a string');
  if (path === '') return [];
  const parts = path.split('.');
  if (parts.length > MAX_DEPTH) throw bad(path, `deeper than ${MAX_DEPTH}`);
  for (const p of parts) {
    if (p === '') throw bad(path, 'empty segment');
    if (FORBIDDEN_KEYS.has(p)) throw bad(path, `"${p}" is not allowed in a path`);
  }
  return parts;
}

/** Checks that `v` is plain JSON within limits; returns its serialized size. */
export function checkJson(v: unknown, path: string, maxBytes: number): number {
  let depth = 0;
  const walk = (x: unknown, d: number): void => {
    if (d > MAX_DEPTH) throw bad(path, `value nested deeper than ${MAX_DEPTH}`);
    depth = Math.max(depth, d);
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return;
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) throw bad(path, 'numbers must be finite');
      return;
    }
    if (Array.isArray(x)) return x.forEach((y) => walk(y, d + 1));
    if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      for (const [k, y] of Object.entries(x)) {
        if (FORBIDDEN_KEYS.has(k)) throw bad(path, `key "${k}" is not allowed`);
        walk(y, d + 1);
      }
      return;
    }
    throw bad(path, `${typeof x} is not JSON`);
  };
  walk(v, 0);
  const size = Buffer.byteLength(JSON.stringify(v));
  if (size > maxBytes) throw bad(path, `value of ${size} bytes is over the limit of ${maxBytes}`);
  return size;
}

const isIndex = (s: string) => /^(0|[1-9]\d{0,8})$/.test(s);

/** What `edit` does to the key (or index) at the end of its path: set this value, or delete (undefined). */
type Leaf = Doc | undefined;

/** Whether the plain object `o` has more than `n` keys (counting no further than that). */
function wider(o: object, n: number): boolean {
  let count = 0;
  for (const _ in o) if (++count > n) return true;
  return false;
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The child `seg` of a container node (undefined when there is none, or `node` is no container). */
function childOf(node: Doc | undefined, seg: string): Doc | undefined {
  if (node instanceof WideObject) return node.get(seg);
  if (node instanceof WideArray) return isIndex(seg) ? node.get(Number(seg)) : undefined;
  if (Array.isArray(node)) return isIndex(seg) ? node[Number(seg)] : undefined;
  if (node !== null && typeof node === 'object') return own(node, seg) ? node[seg] : undefined;
  return undefined;
}

/**
 * Returns `doc` with the key at the end of `parts` set to `leaf` (or deleted), copying the containers on
 * the path: a plain one in full (an object of at most WIDE_OBJECT_MIN_KEYS keys, an array of fewer than
 * WIDE_ARRAY_MIN_LENGTH elements), a wide one only along its tree. A plain container wider than that is
 * made wide as it is written into; a wide one that deletes narrow below half of that becomes plain again.
 */
function edit(doc: Doc, parts: readonly string[], path: string, create: boolean, leaf: Leaf): Doc {
  if (parts.length === 0) throw bad(path, 'the root can only be replaced with set ""');
  const write = (node: Doc | undefined, i: number): Doc => {
    const seg = parts[i]!;
    const last = i === parts.length - 1;
    if (node instanceof WideArray || Array.isArray(node)) {
      if (!isIndex(seg)) throw bad(path, `"${seg}" is not an array index`);
      const idx = Number(seg);
      if (idx > node.length) throw bad(path, `index ${idx} is past the end`);
      const at = node instanceof WideArray ? node.get(idx) : node[idx];
      const next = last ? leaf : write(at, i + 1);
      if (next === undefined && idx === node.length) return node; // nothing there to delete
      if (node instanceof WideArray || node.length >= WIDE_ARRAY_MIN_LENGTH) {
        const wide = node instanceof WideArray ? node : WideArray.from(node);
        return arrayOf(next === undefined ? wide.removeAt(idx) : idx === wide.length ? wide.push(next) : wide.set(idx, next));
      }
      const copy = [...node];
      if (next === undefined) copy.splice(idx, 1);
      else copy[idx] = next;
      if (mayHoldWide(node) || mayHoldWide(next)) markHoldsWide(copy);
      return copy;
    }
    let wide: WideObject | undefined;
    if (node instanceof WideObject) wide = node;
    else if (node !== null && typeof node === 'object' && wider(node, WIDE_OBJECT_MIN_KEYS)) wide = WideObject.from(node);
    if (wide !== undefined) {
      const next = last ? leaf : write(wide.get(seg), i + 1);
      if (next !== undefined) return wide.set(seg, next);
      const left = wide.delete(seg);
      if (left.size >= WIDE_OBJECT_PLAIN_BELOW) return left;
      const plain = left.toPlain();
      if (Object.values(plain).some(mayHoldWide)) markHoldsWide(plain);
      return plain;
    }
    let copy: Record<string, Doc>;
    if (node !== null && typeof node === 'object') copy = { ...node };
    else if (node === undefined && create) copy = {};
    else throw bad(path, `"${parts.slice(0, i).join('.') || '(root)'}" is not an object or array`);
    const next = last ? leaf : write(own(copy, seg) ? copy[seg] : undefined, i + 1);
    if (next === undefined) delete copy[seg];
    else copy[seg] = next;
    if ((node !== undefined && mayHoldWide(node)) || mayHoldWide(next)) markHoldsWide(copy);
    return copy;
  };
  return write(doc, 0);
}

/** The node at `path` (O(depth × log width)), or undefined. */
export function getAt(doc: Doc, path: string): Doc | undefined {
  let node: Doc | undefined = doc;
  for (const seg of parsePath(path)) if ((node = childOf(node, seg)) === undefined) return undefined;
  return node;
}

/** Validates a mutation received from anywhere (IPC, the wire, stdin). */
export function validateMutation(m: unknown, maxValueBytes = DEFAULT_MAX_VALUE_BYTES): Mutation {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad('', 'a mutation is an object');
  const o = m as Record<string, unknown>;
  if (o.op === 'batch') {
    for (const k of Object.keys(o)) if (k !== 'op' && k !== 'ops') throw bad('', `unexpected field "${k}" in a batch`);
    if (!Array.isArray(o.ops) || o.ops.length > MAX_BATCH_OPS) throw bad('', `a batch has at most ${MAX_BATCH_OPS} ops`);
    for (const x of o.ops) {
      const op = (x as { op?: unknown } | null)?.op;
      if (op === 'batch' || op === 'dispatch') throw bad('', `a batch cannot contain ${op}`);
      validateMutation(x, maxValueBytes);
    }
    return o as Mutation;
  }
  if (o.op === 'dispatch') {
    for (const k of Object.keys(o)) if (!['op', 'type', 'payload'].includes(k)) throw bad('', `unexpected field "${k}" in a dispatch`);
    if (typeof o.type !== 'string' || o.type.length === 0 || o.type.length > 200)
      throw bad('', 'an action type is a string of 1 to 200 characters');
    if ('payload' in o) checkJson(o.payload, `(payload of ${o.type})`, maxValueBytes);
    return o as Mutation;
  }
  const path = o.path as string;
  parsePath(path);
  const allowed: Record<string, string[]> = {
    set: ['op', 'path', 'value'],
    delete: ['op', 'path'],
    increment: ['op', 'path', 'by'],
    push: ['op', 'path', 'value'],
    'remove-at': ['op', 'path', 'index'],
  };
  const fields = allowed[o.op as string];
  if (!fields || !Object.prototype.hasOwnProperty.call(allowed, o.op as string))
    throw bad(String(path), `unknown op ${JSON.stringify(o.op)}`);
  for (const k of Object.keys(o)) if (!fields.includes(k)) throw bad(path, `unexpected field "${k}"`);
  if ((o.op === 'set' || o.op === 'push') && !('value' in o)) throw bad(path, 'value is required');
  if ('value' in o) checkJson(o.value, path, maxValueBytes);
  if (o.op === 'increment' && o.by !== undefined && !(typeof o.by === 'number' && Number.isFinite(o.by)))
    throw bad(path, 'by must be a finite number');
  if (o.op === 'remove-at' && !Number.isSafeInteger(o.index)) throw bad(path, 'index must be an integer');
  return o as Mutation;
}

/**
 * Applies one mutation, returning the new document. Throws EPROTOCOL naming the path; `doc` is unchanged.
 * Costs O(depth × log width) for a change below wide objects (see wide-object.ts), plus the value's size.
 */
export function apply(doc: Doc, m: Mutation): Doc {
  if (m.op === 'batch') return m.ops.reduce(apply, doc);
  if (m.op === 'dispatch') throw bad('', `action "${m.type}" must be resolved by the owner's reducer first`);
  const parts = parsePath(m.path);
  switch (m.op) {
    case 'set':
      if (parts.length === 0) return m.value;
      return edit(doc, parts, m.path, true, m.value);
    case 'delete':
      if (parts.length === 0) return {};
      if (getAt(doc, m.path) === undefined) return doc;
      return edit(doc, parts, m.path, false, undefined);
    case 'increment':
      return apply(doc, { op: 'set', path: m.path, value: incremented(getAt(doc, m.path), m) });
    case 'push': {
      const cur = pushTarget(getAt(doc, m.path), m);
      return setNode(doc, parts, m.path, pushed(cur, m.value));
    }
    case 'remove-at': {
      const cur = removeAtTarget(getAt(doc, m.path), m);
      return setNode(doc, parts, m.path, removed(cur, m.index));
    }
  }
}

/** The number an increment leaves at its path, given what is there now; EPROTOCOL when it cannot. */
export function incremented(cur: Doc | undefined, m: { path: string; by?: number }): number {
  if (cur !== undefined && typeof cur !== 'number') throw bad(m.path, 'increment needs a number there');
  const next = (cur ?? 0) + (m.by ?? 1);
  if (!Number.isFinite(next)) throw bad(m.path, 'the result is not finite');
  return next;
}

/** An array of the document, plain or wide. */
type DocArray = Doc[] | WideArray;

/** The array a push appends to (undefined: nothing there yet); EPROTOCOL when something else is there. */
export function pushTarget(cur: Doc | undefined, m: { path: string }): DocArray | undefined {
  if (cur !== undefined && !Array.isArray(cur) && !(cur instanceof WideArray)) throw bad(m.path, 'push needs an array there');
  return cur;
}

/** The array a remove-at removes from; EPROTOCOL when there is none or the index is out of range. */
export function removeAtTarget(cur: Doc | undefined, m: { path: string; index: number }): DocArray {
  if (!Array.isArray(cur) && !(cur instanceof WideArray)) throw bad(m.path, 'remove-at needs an array there');
  if (m.index < 0 || m.index >= cur.length) throw bad(m.path, `index ${m.index} is out of range (length ${cur.length})`);
  return cur;
}

/** `cur` with `value` (new, plain JSON) appended: a copy while short, along the tree once long. */
function pushed(cur: DocArray | undefined, value: Doc): DocArray {
  if (cur === undefined) return [value];
  if (cur instanceof WideArray || cur.length >= WIDE_ARRAY_MIN_LENGTH) return (cur instanceof WideArray ? cur : WideArray.from(cur)).push(value);
  const copy = [...cur, value];
  if (mayHoldWide(cur)) markHoldsWide(copy);
  return copy;
}

/** `cur` without element `index`. */
function removed(cur: DocArray, index: number): DocArray {
  if (cur instanceof WideArray) return arrayOf(cur.removeAt(index));
  const copy = cur.filter((_, i) => i !== index);
  if (mayHoldWide(cur)) markHoldsWide(copy);
  return copy;
}

/** A WideArray, or the plain array it stands for once it is short again. */
function arrayOf(a: WideArray): DocArray {
  if (a.length >= WIDE_ARRAY_PLAIN_BELOW) return a;
  const plain = a.toPlain();
  if (plain.some(mayHoldWide)) markHoldsWide(plain);
  return plain;
}

/** `set` of an array built from the document's own nodes (marked if it may hold wide nodes). */
function setNode(doc: Doc, parts: readonly string[], path: string, node: DocArray): Doc {
  return parts.length === 0 ? node : edit(doc, parts, path, true, node);
}
