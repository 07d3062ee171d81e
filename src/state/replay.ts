/**
 * Recovery's replay: journal entries applied to the recovered snapshot in place.
 *
 * A new owner's document is not shared with anyone until it has replayed the entries after its snapshot,
 * so they can change it where it stands: no copy of the containers on each path, no conversion of a wide
 * object (state/wide-object.ts) for a write into it, and one freeze at the end, instead of the
 * copy-on-write of `apply` that keeps every version intact.
 *
 * Guarantees: for a document of plain JSON that nothing else references, the result has the values and
 * the key order that `apply` (state/document.ts) gives for the same entries; the entries' values are
 * copied in, so the entries themselves (kept for followers that catch up) never change.
 * Not guaranteed: atomicity. An entry that fails (a journal written by an owner holds none: each entry
 * was applied once before it was written) throws EPROTOCOL and leaves the document partly changed; the
 * caller then discards it.
 */
import { LeaseholdError } from '../errors.js';
import { getAt, incremented, pushTarget, removeAtTarget, splitPath, type Json, type Mutation } from './document.js';

const bad = (path: string, why: string) => new LeaseholdError('EPROTOCOL', `invalid mutation at "${path}": ${why}`, { field: path });
const isIndex = (s: string) => /^(0|[1-9]\d{0,8})$/.test(s);
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
/** An entry's value as the document takes it: containers copied (the entry stays as it was), the rest as is. */
const copyIn = (v: Json): Json => (v !== null && typeof v === 'object' ? structuredClone(v) : v);
type Container = Json[] | { [k: string]: Json };

/** The container holding the last segment of `parts`, made along the way when `create` (as `set` does). */
function parentOf(doc: Json, parts: readonly string[], path: string, create: boolean): Container {
  let node: Json | undefined = doc;
  for (let i = 0; ; i++) {
    if (node === null || typeof node !== 'object')
      throw bad(path, `"${parts.slice(0, i).join('.') || '(root)'}" is not an object or array`);
    const seg = parts[i]!;
    if (Array.isArray(node) && !isIndex(seg)) throw bad(path, `"${seg}" is not an array index`);
    if (Array.isArray(node) && Number(seg) > node.length) throw bad(path, `index ${seg} is past the end`);
    if (i === parts.length - 1) return node;
    const container: Container = node;
    let child: Json | undefined = Array.isArray(container) ? container[Number(seg)] : own(container, seg) ? container[seg] : undefined;
    if (child === undefined && create) {
      child = {};
      if (Array.isArray(container)) container[Number(seg)] = child;
      else container[seg] = child;
    }
    node = child;
  }
}

function put(doc: Json, parts: readonly string[], path: string, value: Json | undefined): void {
  const parent = parentOf(doc, parts, path, value !== undefined);
  const last = parts[parts.length - 1]!;
  if (Array.isArray(parent)) {
    if (value === undefined) parent.splice(Number(last), 1);
    else parent[Number(last)] = value;
  } else if (value === undefined) delete parent[last];
  else parent[last] = value;
}

/** Applies `m` to `doc` in place; returns the document (a new root only for a change of the root). */
export function applyInPlace(doc: Json, m: Mutation): Json {
  if (m.op === 'batch') return m.ops.reduce(applyInPlace, doc);
  if (m.op === 'dispatch') throw bad('', `action "${m.type}" must be resolved by the owner's reducer first`);
  const parts = splitPath(m.path);
  switch (m.op) {
    case 'set':
      if (parts.length === 0) return copyIn(m.value);
      put(doc, parts, m.path, copyIn(m.value));
      return doc;
    case 'delete':
      if (parts.length === 0) return {};
      if (getAt(doc, m.path) !== undefined) put(doc, parts, m.path, undefined);
      return doc;
    case 'increment':
      return applyInPlace(doc, { op: 'set', path: m.path, value: incremented(getAt(doc, m.path), m) });
    case 'push': {
      const cur = pushTarget(getAt(doc, m.path) as Json | undefined, m) as Json[] | undefined;
      if (cur === undefined || parts.length === 0) return applyInPlace(doc, { op: 'set', path: m.path, value: [...(cur ?? []), m.value] });
      cur.push(copyIn(m.value));
      return doc;
    }
    case 'remove-at': {
      const cur = removeAtTarget(getAt(doc, m.path) as Json | undefined, m) as Json[];
      if (parts.length === 0) return cur.filter((_, i) => i !== m.index);
      cur.splice(m.index, 1);
      return doc;
    }
  }
}
