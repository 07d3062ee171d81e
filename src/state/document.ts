/**
 * The shared state: a JSON document changed only by mutations, each applied atomically.
 *
 * Guarantees: `apply` either returns a new document (copy-on-write along the path; the input is never
 * modified) or throws EPROTOCOL naming the path, leaving nothing
 * changed; paths never touch `__proto__`, `constructor` or `prototype`; a value over `maxValueBytes`
 * is refused. The document it works on is a `Doc`: JSON in which an object wider than
 * WIDE_OBJECT_MIN_KEYS may be held as a WideObject, so that a change costs O(depth × log width)
 * (wide-object.ts); `view()` gives the plain JSON, with the key order plain objects would have. An array
 * stays an array: a change to a long one still copies it.
 *
 * Paths are dot-separated (`todos.3.done`); a segment that is a non-negative integer indexes an array.
 */
import { LeaseholdError } from '../errors.js';
import type { Json, Mutation } from './json.js';
import { markHoldsWide, mayHoldWide, WIDE_OBJECT_MIN_KEYS, WIDE_OBJECT_PLAIN_BELOW, WideObject, type Doc } from './wide-object.js';

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
  if (Array.isArray(node)) return isIndex(seg) ? node[Number(seg)] : undefined;
  if (node !== null && typeof node === 'object') return own(node, seg) ? node[seg] : undefined;
  return undefined;
}

/**
 * Returns `doc` with the key at the end of `parts` set to `leaf` (or deleted), copying the containers on
 * the path: a plain one in full (it is at most WIDE_OBJECT_MIN_KEYS wide, or an array), a WideObject
 * only along its trie. A plain object wider than that is made a WideObject as it is written into; a
 * WideObject narrowed below WIDE_OBJECT_PLAIN_BELOW by a delete becomes plain again.
 */
function edit(doc: Doc, parts: readonly string[], path: string, create: boolean, leaf: Leaf): Doc {
  if (parts.length === 0) throw bad(path, 'the root can only be replaced with set ""');
  const write = (node: Doc | undefined, i: number): Doc => {
    const seg = parts[i]!;
    const last = i === parts.length - 1;
    if (Array.isArray(node)) {
      if (!isIndex(seg)) throw bad(path, `"${seg}" is not an array index`);
      const idx = Number(seg);
      if (idx > node.length) throw bad(path, `index ${idx} is past the end`);
      const copy = [...node];
      const next = last ? leaf : write(node[idx], i + 1);
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
      return setNode(doc, parts, m.path, [...(cur ?? []), m.value]);
    }
    case 'remove-at': {
      const cur = removeAtTarget(getAt(doc, m.path), m);
      return setNode(
        doc,
        parts,
        m.path,
        cur.filter((_, i) => i !== m.index),
      );
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

/** The array a push appends to (undefined: nothing there yet); EPROTOCOL when something else is there. */
export function pushTarget<T extends Doc | undefined>(cur: T, m: { path: string }): (T & Doc[]) | undefined {
  if (cur !== undefined && !Array.isArray(cur)) throw bad(m.path, 'push needs an array there');
  return cur as (T & Doc[]) | undefined;
}

/** The array a remove-at removes from; EPROTOCOL when there is none or the index is out of range. */
export function removeAtTarget<T extends Doc | undefined>(cur: T, m: { path: string; index: number }): T & Doc[] {
  if (!Array.isArray(cur)) throw bad(m.path, 'remove-at needs an array there');
  if (m.index < 0 || m.index >= cur.length) throw bad(m.path, `index ${m.index} is out of range (length ${cur.length})`);
  return cur as T & Doc[];
}

/** `set` of a node built from the document's own nodes (an array that may hold WideObjects). */
function setNode(doc: Doc, parts: readonly string[], path: string, node: Doc[]): Doc {
  if (node.some(mayHoldWide)) markHoldsWide(node);
  return parts.length === 0 ? node : edit(doc, parts, path, true, node);
}
