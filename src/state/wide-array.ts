/**
 * A long array of the shared document, held as a persistent tree of chunks.
 *
 * `WideArray` stands, inside the document, for an array of `WIDE_ARRAY_MIN_LENGTH` elements or more: an
 * immutable B-tree whose leaves hold up to CHUNK elements in order and whose inner nodes hold up to CHUNK
 * children with their element counts. Reading, replacing, appending or removing one element costs
 * O(CHUNK × log_CHUNK length) and a change shares every untouched chunk with the previous version: a push
 * onto a 1 000 000-element array copies four or five nodes of at most CHUNK slots, not the array.
 * (Copying a plain array costs O(length), and past about 16 000 elements each copy is a large-object
 * allocation of its own, about a millisecond.)
 *
 * Appends fill leaves and inner nodes completely (a log built by pushes is a dense tree); a node that
 * removals leave empty is dropped, and a root with one child gives way to that child. Underfull nodes are
 * not merged: the height stays within what the longest length the array had needs.
 *
 * The plain JSON it stands for is `view(node)` (wide-object.ts), built once per version and only when read.
 * Not guaranteed: that an array is wide or plain at any given length (an internal matter).
 */
import type { Doc } from './wide-object.js';
import { view } from './wide-object.js';
import type { Json } from './json.js';

/**
 * A plain array of this many elements or more becomes a WideArray when it is next written into: below it a copy is
 * cheaper than the tree (and a plain array is its own view). bench/wide.ts measures both sides.
 */
export const WIDE_ARRAY_MIN_LENGTH = 256;
/** A WideArray that removals leave shorter than this becomes a plain array again (half the threshold). */
export const WIDE_ARRAY_PLAIN_BELOW = WIDE_ARRAY_MIN_LENGTH / 2;

/** Elements in a leaf, children in an inner node, at most. */
const CHUNK = 32;

class Inner {
  constructor(
    readonly children: readonly Node[],
    /** Elements below, in all. */
    readonly size: number,
  ) {}
}

/** A leaf is its elements, in order (never empty in a tree). */
type Node = readonly Doc[] | Inner;

const sizeOf = (n: Node): number => (n instanceof Inner ? n.size : n.length);

/** The child of `n` that holds element `i`, and `i` within it. */
function locate(n: Inner, i: number): [number, number] {
  const c = n.children;
  for (let k = 0; k < c.length - 1; k++) {
    const s = sizeOf(c[k]!);
    if (i < s) return [k, i];
    i -= s;
  }
  return [c.length - 1, i];
}

function getIn(n: Node, i: number): Doc {
  while (n instanceof Inner) {
    const [k, j] = locate(n, i);
    n = n.children[k]!;
    i = j;
  }
  return n[i]!;
}

function setIn(n: Node, i: number, v: Doc): Node {
  if (!(n instanceof Inner)) {
    const copy = n.slice();
    copy[i] = v;
    return copy;
  }
  const [k, j] = locate(n, i);
  const children = n.children.slice();
  children[k] = setIn(n.children[k]!, j, v);
  return new Inner(children, n.size);
}

/** `n` with `v` appended: one node, or two when `n` was full all the way down its right edge. */
function appendIn(n: Node, v: Doc): [Node] | [Node, Node] {
  if (!(n instanceof Inner)) return n.length < CHUNK ? [[...n, v]] : [n, [v]];
  const last = n.children.length - 1;
  const r = appendIn(n.children[last]!, v);
  const children = n.children.slice();
  children[last] = r[0];
  if (r.length === 1) return [new Inner(children, n.size + 1)];
  if (children.length < CHUNK) {
    children.push(r[1]);
    return [new Inner(children, n.size + 1)];
  }
  return [new Inner(children, n.size - sizeOf(n.children[last]!) + sizeOf(r[0])), new Inner([r[1]], sizeOf(r[1]))];
}

/** `n` without element `i`; undefined when nothing is left of it. */
function removeIn(n: Node, i: number): Node | undefined {
  if (!(n instanceof Inner)) {
    if (n.length === 1) return undefined;
    const copy = n.slice();
    copy.splice(i, 1);
    return copy;
  }
  const [k, j] = locate(n, i);
  const child = removeIn(n.children[k]!, j);
  const children = n.children.slice();
  if (child === undefined) children.splice(k, 1);
  else children[k] = child;
  return children.length === 0 ? undefined : new Inner(children, n.size - 1);
}

function forEachIn(n: Node, fn: (v: Doc) => void): void {
  if (n instanceof Inner) for (const c of n.children) forEachIn(c, fn);
  else for (const v of n) fn(v);
}

/** Groups `nodes` CHUNK at a time under inner nodes, level after level, up to one root. */
function buildUp(nodes: Node[]): Node {
  while (nodes.length > 1) {
    const up: Node[] = [];
    for (let k = 0; k < nodes.length; k += CHUNK) {
      const children = nodes.slice(k, k + CHUNK);
      up.push(new Inner(children, children.reduce((s, c) => s + sizeOf(c), 0)));
    }
    nodes = up;
  }
  return nodes[0] ?? [];
}

export class WideArray {
  readonly #root: Node;
  /** Every element is known to be deeply frozen (reducers.ts), as for WideObject. */
  frozen = false;

  private constructor(root: Node) {
    this.#root = root;
  }

  /** The array's elements, in order (the same nodes): O(length). */
  static from(a: readonly Doc[]): WideArray {
    const leaves: Node[] = [];
    for (let k = 0; k < a.length; k += CHUNK) leaves.push(a.slice(k, k + CHUNK));
    return new WideArray(buildUp(leaves));
  }

  get length(): number {
    return sizeOf(this.#root);
  }

  /** Element `i`, or undefined past the end. */
  get(i: number): Doc | undefined {
    return Number.isInteger(i) && i >= 0 && i < this.length ? getIn(this.#root, i) : undefined;
  }

  /** A WideArray with element `i` (0 ≤ i < length) replaced by `v`. */
  set(i: number, v: Doc): WideArray {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`index ${i} is out of range (length ${this.length})`);
    return new WideArray(setIn(this.#root, i, v));
  }

  /** A WideArray with `v` appended. */
  push(v: Doc): WideArray {
    const r = appendIn(this.#root, v);
    return new WideArray(r.length === 1 ? r[0] : new Inner(r, sizeOf(r[0]) + sizeOf(r[1])));
  }

  /** A WideArray without element `i` (0 ≤ i < length); the elements after it move down by one. */
  removeAt(i: number): WideArray {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`index ${i} is out of range (length ${this.length})`);
    let root: Node = removeIn(this.#root, i) ?? [];
    while (root instanceof Inner && root.children.length === 1) root = root.children[0]!;
    return new WideArray(root);
  }

  /** Every element, in order. */
  forEachValue(fn: (v: Doc) => void): void {
    forEachIn(this.#root, fn);
  }

  /** The elements in order, a chunk (a leaf, up to CHUNK elements, shared: do not modify) at a time. */
  *chunks(): Generator<readonly Doc[]> {
    const stack: Node[] = [this.#root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n instanceof Inner) for (let k = n.children.length - 1; k >= 0; k--) stack.push(n.children[k]!);
      else if (n.length > 0) yield n;
    }
  }

  /** A plain array of the same elements (the same nodes). */
  toPlain(): Doc[] {
    const out: Doc[] = [];
    for (const c of this.chunks()) for (const v of c) out.push(v);
    return out;
  }

  /** What JSON.stringify writes: the plain JSON this stands for. */
  toJSON(): Json {
    return view(this);
  }
}
