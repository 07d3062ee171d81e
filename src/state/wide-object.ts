/**
 * A wide object of the shared document, held as a persistent map, and how the document is shown to users.
 *
 * `WideObject` stands, inside the document, for a plain object wider than `WIDE_OBJECT_MIN_KEYS`: an
 * immutable hash array mapped trie (32-way, keyed by a 32-bit string hash; keys whose hashes are equal
 * share a bucket) from key to child node. Reading or writing one key costs O(log32 width) and a write
 * shares every untouched part with the previous version, so that a change to one key of a 1 000 000-key
 * object copies a few 32-slot nodes, not the object.
 *
 * Key order: a plain object presents its keys in insertion order, array-index keys ("0" … "4294967294")
 * first in numeric order. Each entry carries an insertion stamp (a new key gets the next stamp, a key
 * deleted and set again gets a new one; converting a plain object stamps its keys in their order), and
 * `entries()` presents them in the order a plain object with the same history would: so every replica,
 * and the snapshot a new owner starts from, shows the same order.
 *
 * `view(node)` is the plain JSON that a node stands for, deeply frozen, built lazily and kept per node:
 * unchanged subtrees keep their view (identity checks keep working), a wide object's view costs
 * O(width) once per version of it, and only when somebody reads it. A part of the document that holds no
 * wide object is its own view (no copy).
 *
 * Not guaranteed: that a node is wide or plain at any given width (that is an internal matter); stamps
 * are not part of the document (a snapshot holds only the order they give).
 */
import type { Json } from './json.js';
import { WideArray } from './wide-array.js';

/**
 * A plain object with more keys than this becomes a WideObject when it is first written into. Copying a
 * plain object costs more than a change in the trie from about this width on (V8 keeps wider objects as
 * hash tables, which copy slowly), and a WideObject's view, which a plain object does not need, stays
 * cheap at this width. bench/wide.ts measures both sides.
 */
export const WIDE_OBJECT_MIN_KEYS = 64;
/**
 * A WideObject that deletes leave with fewer keys than this becomes a plain object again: half the
 * threshold, so that a width going up and down around the threshold does not convert at every change.
 */
export const WIDE_OBJECT_PLAIN_BELOW = WIDE_OBJECT_MIN_KEYS / 2;

/**
 * A node of the document as held in memory: JSON, but where any object may be a WideObject and any array
 * a WideArray (wide-array.ts).
 */
export type Doc = null | boolean | number | string | Doc[] | { [k: string]: Doc } | WideObject | WideArray;

const BITS = 5;
const MASK = (1 << BITS) - 1;

/** One key of a WideObject and its value. */
export interface Entry {
  readonly key: string;
  readonly value: Doc;
}

class Leaf implements Entry {
  constructor(
    readonly key: string,
    readonly hash: number,
    readonly value: Doc,
    readonly stamp: number,
  ) {}
}

/** Leaves whose keys hash alike (all 32 bits). */
class Bucket {
  constructor(
    readonly hash: number,
    readonly leaves: readonly Leaf[],
  ) {}
}

/** A slot for each 5-bit chunk of the hash present (`bitmap`), in chunk order. */
class Branch {
  constructor(
    readonly bitmap: number,
    readonly slots: Slot[],
  ) {}
}

type Slot = Leaf | Bucket | Branch;

const EMPTY = new Branch(0, []);

/** FNV-1a over the UTF-16 code units. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The position in `b.slots` of the slot for `bit` (present or not). */
const position = (b: Branch, bit: number) => popcount(b.bitmap & ((bit - 1) | 0));

function find(root: Branch, key: string, hash: number): Leaf | undefined {
  let node: Slot = root;
  for (let shift = 0; ; shift += BITS) {
    if (node instanceof Leaf) return node.key === key ? node : undefined;
    if (node instanceof Bucket) return node.hash === hash ? node.leaves.find((l) => l.key === key) : undefined;
    const bit = 1 << ((hash >>> shift) & MASK);
    if ((node.bitmap & bit) === 0) return undefined;
    node = node.slots[position(node, bit)]!;
  }
}

/** A branch (and branches below it as needed) holding `a` and `b`, whose hashes differ, at level `shift`. */
function fork(a: Leaf | Bucket, b: Leaf | Bucket, shift: number): Branch {
  const ia = (a.hash >>> shift) & MASK;
  const ib = (b.hash >>> shift) & MASK;
  if (ia === ib) return new Branch(1 << ia, [fork(a, b, shift + BITS)]);
  return new Branch((1 << ia) | (1 << ib), ia < ib ? [a, b] : [b, a]);
}

/**
 * What `put` found: the leaf it replaced (undefined: the key is new). One module-level slot rather than a
 * result object per call: a change walks the trie once, and allocates only the nodes it copies.
 */
let replaced: Leaf | undefined;

/**
 * `slot` (at level `shift`) with `key` set to `value`: the leaf of the same key keeps its stamp, a new one
 * gets `stamp`. The same slot when the key holds that value already.
 */
function putInto(slot: Slot, key: string, hash: number, value: Doc, stamp: number, shift: number): Slot {
  if (slot instanceof Branch) return put(slot, key, hash, value, stamp, shift);
  if (slot.hash !== hash) return fork(slot, new Leaf(key, hash, value, stamp), shift);
  if (slot instanceof Leaf) {
    if (slot.key !== key) return new Bucket(hash, [slot, new Leaf(key, hash, value, stamp)]);
    replaced = slot;
    return slot.value === value ? slot : new Leaf(key, hash, value, slot.stamp);
  }
  const i = slot.leaves.findIndex((l) => l.key === key);
  if (i < 0) return new Bucket(hash, [...slot.leaves, new Leaf(key, hash, value, stamp)]);
  const old = (replaced = slot.leaves[i]!);
  if (old.value === value) return slot;
  return new Bucket(
    hash,
    slot.leaves.map((l, j) => (j === i ? new Leaf(key, hash, value, old.stamp) : l)),
  );
}

function put(b: Branch, key: string, hash: number, value: Doc, stamp: number, shift: number): Branch {
  const bit = 1 << ((hash >>> shift) & MASK);
  const at = position(b, bit);
  if ((b.bitmap & bit) === 0) {
    const slots = b.slots.slice();
    slots.splice(at, 0, new Leaf(key, hash, value, stamp));
    return new Branch(b.bitmap | bit, slots);
  }
  const slot = b.slots[at]!;
  const next = putInto(slot, key, hash, value, stamp, shift + BITS);
  if (next === slot) return b;
  const slots = b.slots.slice();
  slots[at] = next;
  return new Branch(b.bitmap, slots);
}

/** A trie of `leaves` (distinct keys) at level `shift`, built at once: O(n × depth), no copies. */
function build(leaves: Leaf[], shift: number): Slot {
  if (leaves.length === 1) return leaves[0]!;
  const hash = leaves[0]!.hash;
  if (leaves.every((l) => l.hash === hash)) return new Bucket(hash, leaves);
  const groups: Leaf[][] = [];
  for (const l of leaves) (groups[(l.hash >>> shift) & MASK] ??= []).push(l);
  let bitmap = 0;
  const slots: Slot[] = [];
  for (let i = 0; i <= MASK; i++) {
    const g = groups[i];
    if (g === undefined) continue;
    bitmap |= 1 << i;
    slots.push(build(g, shift + BITS));
  }
  return new Branch(bitmap, slots);
}

/**
 * `b` without the leaf of `key`: the same branch when there is none; undefined when nothing is left; a
 * lone leaf or bucket is handed up, so that the trie stays as shallow as its contents need.
 */
function remove(b: Branch, key: string, hash: number, shift: number): Slot | undefined {
  const bit = 1 << ((hash >>> shift) & MASK);
  if ((b.bitmap & bit) === 0) return b;
  const at = position(b, bit);
  const slot = b.slots[at]!;
  let next: Slot | undefined;
  if (slot instanceof Branch) next = remove(slot, key, hash, shift + BITS);
  else if (slot instanceof Leaf) next = slot.key === key ? undefined : slot;
  else if (slot.hash !== hash) next = slot;
  else {
    const leaves = slot.leaves.filter((l) => l.key !== key);
    next = leaves.length === slot.leaves.length ? slot : leaves.length === 1 ? leaves[0]! : new Bucket(hash, leaves);
  }
  if (next === slot) return b;
  if (next === undefined) {
    if (b.slots.length === 1) return undefined;
    const rest = b.slots.filter((_, i) => i !== at);
    return rest.length === 1 && !(rest[0] instanceof Branch) ? rest[0] : new Branch(b.bitmap & ~bit, rest);
  }
  if (b.slots.length === 1 && !(next instanceof Branch)) return next;
  const slots = b.slots.slice();
  slots[at] = next;
  return new Branch(b.bitmap, slots);
}

function forEachLeaf(slot: Slot, fn: (l: Leaf) => void): void {
  if (slot instanceof Leaf) fn(slot);
  else if (slot instanceof Bucket) slot.leaves.forEach(fn);
  else for (const s of slot.slots) forEachLeaf(s, fn);
}

/** Whether a plain object lists `key` among its array indices (first, in numeric order). */
function isArrayIndex(key: string): boolean {
  const c = key.charCodeAt(0);
  if (c < 48 || c > 57) return false;
  return key === '0' || (c !== 48 && key.length <= 10 && /^\d+$/.test(key) && Number(key) < 4294967295);
}

/** Leaves gathered between two yields of `WideObject.inOrder`. */
const GATHER_STEP = 4096;

export class WideObject {
  readonly #root: Branch;
  /** Keys held. */
  readonly size: number;
  /** The stamp the next new key gets (above every stamp held). */
  readonly #nextStamp: number;
  /**
   * Every value is known to be deeply frozen (set by reducers.ts `freezeDeep` / `applyFrozen`): the
   * WideObject's counterpart of Object.isFrozen on a plain node, kept here because a WeakSet of every
   * version would cost more than the change itself.
   */
  frozen = false;

  private constructor(root: Branch, size: number, nextStamp: number) {
    this.#root = root;
    this.size = size;
    this.#nextStamp = nextStamp;
  }

  /** The object's keys, in their order, stamped 0, 1, …: O(width). */
  static from(o: { readonly [k: string]: Doc }): WideObject {
    const keys = Object.keys(o);
    if (keys.length === 0) return new WideObject(EMPTY, 0, 0);
    const top = build(
      keys.map((k, i) => new Leaf(k, hashOf(k), o[k]!, i)),
      0,
    );
    const root = top instanceof Branch ? top : new Branch(1 << (top.hash & MASK), [top]);
    return new WideObject(root, keys.length, keys.length);
  }

  get(key: string): Doc | undefined {
    return find(this.#root, key, hashOf(key))?.value;
  }
  has(key: string): boolean {
    return find(this.#root, key, hashOf(key)) !== undefined;
  }

  /** A WideObject with `key` set to `value` (keeping its place when it was there already). */
  set(key: string, value: Doc): WideObject {
    replaced = undefined;
    const root = put(this.#root, key, hashOf(key), value, this.#nextStamp, 0);
    if (root === this.#root) return this;
    return replaced ? new WideObject(root, this.size, this.#nextStamp) : new WideObject(root, this.size + 1, this.#nextStamp + 1);
  }

  /** A WideObject without `key` (this one when it has none). */
  delete(key: string): WideObject {
    const hash = hashOf(key);
    const left = remove(this.#root, key, hash, 0);
    if (left === this.#root) return this;
    const root = left === undefined ? EMPTY : left instanceof Branch ? left : new Branch(1 << (left.hash & MASK), [left]);
    return new WideObject(root, this.size - 1, this.#nextStamp);
  }

  /** Every value, in no particular order. */
  forEachValue(fn: (v: Doc) => void): void {
    forEachLeaf(this.#root, (l) => fn(l.value));
  }

  /**
   * The entries in the order a plain object presents its keys, as the return value of a generator that
   * yields every few thousand entries gathered (so that a caller slicing its work can pause there); the
   * final ordering is one step of O(width), or O(width × log width) after many deletes.
   */
  *inOrder(): Generator<void, readonly Entry[]> {
    const indices: Leaf[] = [];
    const named: Leaf[] = [];
    const take = (l: Leaf) => void (isArrayIndex(l.key) ? indices : named).push(l);
    const stack: Branch[] = [this.#root];
    let gathered = 0;
    while (stack.length > 0) {
      const b = stack.pop()!;
      for (const s of b.slots) {
        if (s instanceof Leaf) take(s);
        else if (s instanceof Branch) stack.push(s);
        else s.leaves.forEach(take);
      }
      gathered += b.slots.length;
      if (gathered >= GATHER_STEP) {
        gathered = 0;
        yield;
      }
    }
    let ordered: Leaf[];
    if (this.#nextStamp <= 2 * named.length + 64) {
      // Stamps are dense (few deletes): place each at its stamp.
      const at: Array<Leaf | undefined> = new Array(this.#nextStamp);
      for (const l of named) at[l.stamp] = l;
      ordered = [];
      for (const l of at) if (l !== undefined) ordered.push(l);
    } else ordered = named.sort((a, b) => a.stamp - b.stamp);
    if (indices.length === 0) return ordered;
    return indices.sort((a, b) => Number(a.key) - Number(b.key)).concat(ordered);
  }

  /** The entries in the order a plain object presents its keys. */
  entries(): readonly Entry[] {
    const it = this.inOrder();
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /** A plain object with the same entries in the same order (its values are the same nodes). */
  toPlain(): { [k: string]: Doc } {
    const o: { [k: string]: Doc } = {};
    for (const e of this.entries()) o[e.key] = e.value;
    return o;
  }

  /** What JSON.stringify writes: the plain JSON this stands for. */
  toJSON(): Json {
    return view(this);
  }
}

/** Plain containers of the document that hold a wide node at some depth (the others are their own view). */
const holdsWide = new WeakSet<object>();
const views = new WeakMap<object, Json>();

/** Whether `node` is or may hold a WideObject or a WideArray (so that its view is not itself). */
export function mayHoldWide(node: Doc | undefined): boolean {
  return node instanceof WideObject || node instanceof WideArray || (node !== null && typeof node === 'object' && holdsWide.has(node));
}

/** Records that the plain container `node` (new, of the document) holds a wide node at some depth. */
export function markHoldsWide(node: Doc[] | { [k: string]: Doc }): void {
  holdsWide.add(node);
}

/** The plain JSON that `node` stands for: deeply frozen where it had to be built; see the header. */
export function view(node: Doc): Json {
  if (node === null || typeof node !== 'object' || !mayHoldWide(node)) return node as Json;
  const known = views.get(node);
  if (known !== undefined) return known;
  let v: Json;
  if (Array.isArray(node)) v = node.map(view);
  else if (node instanceof WideArray) {
    const a: Json[] = [];
    for (const c of node.chunks()) for (const x of c) a.push(view(x));
    v = a;
  } else {
    const o: { [k: string]: Json } = {};
    if (node instanceof WideObject) for (const e of node.entries()) o[e.key] = view(e.value);
    else for (const k of Object.keys(node)) o[k] = view(node[k]!);
    v = o;
  }
  Object.freeze(v);
  views.set(node, v);
  return v;
}
