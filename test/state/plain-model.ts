/**
 * The document engine as plain copy-on-write JSON (what it was before wide objects and wide arrays), for
 * tests only: the model that the engine with wide nodes must match at every step.
 */
import assert from 'node:assert/strict';
import type { Doc, Json, Mutation } from '../../src/state/document.js';
import { applyFrozen } from '../../src/state/reducers.js';
import { view } from '../../src/state/wide-object.js';
import { LeaseholdError } from '../../src/errors.js';

/**
 * Applies `m` to the model and to the engine (`applyFrozen`): both refuse it (the engine with EPROTOCOL,
 * changing nothing) or neither does. Returns both documents after it, and whether it was applied.
 */
export function stepBoth(model: Json, doc: Doc, m: Mutation): { model: Json; doc: Doc; applied: boolean } {
  const failed = threw(() => (model = modelApply(model, m)));
  const before = view(doc);
  const e = threw(() => (doc = applyFrozen(doc, m)));
  const what = JSON.stringify(m).slice(0, 200);
  if (failed === undefined) {
    assert.equal(e, undefined, `${what}: refused: ${String(e)}`);
    return { model, doc, applied: true };
  }
  assert.ok(e instanceof LeaseholdError && e.code === 'EPROTOCOL', `${what}: should be refused, got ${String(e)}`);
  assert.equal(view(doc), before, `${what}: a refused mutation changes nothing`);
  return { model, doc, applied: false };
}

/** The model: the document engine as it was before wide objects (plain copy-on-write), for tests only. */
export function modelApply(doc: Json, m: Mutation): Json {
  const bad = (why: string) => new LeaseholdError('EPROTOCOL', why);
  const isIndex = (s: string) => /^(0|[1-9]\d{0,8})$/.test(s);
  const getAt = (d: Json, parts: string[]) => {
    let node: Json | undefined = d;
    for (const seg of parts) {
      if (Array.isArray(node)) node = isIndex(seg) ? node[Number(seg)] : undefined;
      else if (node !== null && typeof node === 'object') node = Object.prototype.hasOwnProperty.call(node, seg) ? node[seg] : undefined;
      else return undefined;
    }
    return node;
  };
  const edit = (parts: string[], create: boolean, fn: (parent: Json[] | Record<string, Json>, last: string) => void): Json => {
    if (parts.length === 0) throw bad('root');
    const clone = (node: Json | undefined, i: number): Json => {
      const seg = parts[i]!;
      let copy: Json[] | Record<string, Json>;
      if (Array.isArray(node)) copy = [...node];
      else if (node !== null && typeof node === 'object') copy = { ...node };
      else if (node === undefined && create) copy = {};
      else throw bad('not a container');
      if (Array.isArray(copy) && !isIndex(seg)) throw bad('not an index');
      if (i === parts.length - 1) {
        fn(copy, seg);
        return copy;
      }
      const child = Array.isArray(copy) ? copy[Number(seg)] : Object.prototype.hasOwnProperty.call(copy, seg) ? copy[seg] : undefined;
      const next = clone(child, i + 1);
      if (Array.isArray(copy)) {
        if (Number(seg) > copy.length) throw bad('past the end');
        copy[Number(seg)] = next;
      } else copy[seg] = next;
      return copy;
    };
    return clone(doc, 0);
  };
  if (m.op === 'batch') return m.ops.reduce(modelApply, doc);
  if (m.op === 'dispatch') throw bad('dispatch');
  const parts = m.path === '' ? [] : m.path.split('.');
  switch (m.op) {
    case 'set':
      if (parts.length === 0) return m.value;
      return edit(parts, true, (parent, last) => {
        if (Array.isArray(parent)) {
          if (Number(last) > parent.length) throw bad('past the end');
          parent[Number(last)] = m.value;
        } else parent[last] = m.value;
      });
    case 'delete':
      if (parts.length === 0) return {};
      if (getAt(doc, parts) === undefined) return doc;
      return edit(parts, false, (parent, last) => {
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
      });
    case 'increment': {
      const cur = getAt(doc, parts);
      if (cur !== undefined && typeof cur !== 'number') throw bad('not a number');
      return modelApply(doc, { op: 'set', path: m.path, value: (cur ?? 0) + (m.by ?? 1) });
    }
    case 'push': {
      const cur = getAt(doc, parts);
      if (cur !== undefined && !Array.isArray(cur)) throw bad('not an array');
      return modelApply(doc, { op: 'set', path: m.path, value: [...(cur ?? []), m.value] });
    }
    case 'remove-at': {
      const cur = getAt(doc, parts);
      if (!Array.isArray(cur)) throw bad('not an array');
      if (m.index < 0 || m.index >= cur.length) throw bad('out of range');
      return modelApply(doc, { op: 'set', path: m.path, value: cur.filter((_, i) => i !== m.index) });
    }
  }
}

/** The error `fn` threw, or undefined. */
export function threw(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e;
  }
}
