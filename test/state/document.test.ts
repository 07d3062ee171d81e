/**
 * The state model against a simple mutable reference, over seeded random mutation sequences, plus the
 * refusals a hostile sender must get.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, getAt, validateMutation, type Doc, type Json, type Mutation } from '../../src/state/document.js';
import { view } from '../../src/state/wide-object.js';
import { LeaseholdError } from '../../src/errors.js';
import { applyFrozen, freezeDeep } from '../../src/state/reducers.js';
import { rng } from '../chaos/checker.js';

/** The reference: mutate a deep copy in place, the obvious way. */
function reference(doc: Json, m: Mutation): Json {
  if (m.op === 'batch') return m.ops.reduce(reference, doc);
  if (m.op === 'dispatch') throw new Error('a dispatch is resolved by the owner');
  const root = { v: structuredClone(doc) as Json };
  const parts = m.path === '' ? [] : m.path.split('.');
  const holder = (create: boolean): { c: Record<string, Json> | Json[]; k: string } | undefined => {
    let node: Json = root.v;
    if (parts.length === 0) return undefined;
    let parent: Record<string, Json> = root as unknown as Record<string, Json>;
    let key = 'v';
    for (const p of parts.slice(0, -1)) {
      if (Array.isArray(node) && (!/^(0|[1-9]\d*)$/.test(p) || Number(p) > node.length)) throw new Error('not an index');
      let child: Json | undefined = Array.isArray(node) ? node[Number(p)] : node !== null && typeof node === 'object' ? node[p] : undefined;
      if (child === undefined && create && node !== null && typeof node === 'object') {
        child = {};
        (node as Record<string, Json>)[p] = child;
      }
      if (child === null || typeof child !== 'object') throw new Error('not a container');
      parent = node as Record<string, Json>;
      key = p;
      node = child;
    }
    void parent;
    void key;
    if (node === null || typeof node !== 'object') throw new Error('not a container');
    return { c: node, k: parts[parts.length - 1]! };
  };
  const get = () => {
    let n: Json | undefined = root.v;
    for (const p of parts) n = n !== null && typeof n === 'object' ? (Array.isArray(n) ? n[Number(p)] : n[p]) : undefined;
    return n;
  };
  const set = (value: Json) => {
    if (parts.length === 0) return void (root.v = value);
    const h = holder(true)!;
    if (Array.isArray(h.c)) {
      if (!/^(0|[1-9]\d*)$/.test(h.k) || Number(h.k) > h.c.length) throw new Error('bad index');
      h.c[Number(h.k)] = value;
    } else h.c[h.k] = value;
  };
  switch (m.op) {
    case 'set':
      set(m.value);
      break;
    case 'delete': {
      if (parts.length === 0) return {};
      if (get() === undefined) break;
      const h = holder(false)!;
      if (Array.isArray(h.c)) h.c.splice(Number(h.k), 1);
      else delete h.c[h.k];
      break;
    }
    case 'increment': {
      const c = get();
      if (c !== undefined && typeof c !== 'number') throw new Error('nan');
      set(((c as number | undefined) ?? 0) + (m.by ?? 1));
      break;
    }
    case 'push': {
      const c = get();
      if (c !== undefined && !Array.isArray(c)) throw new Error('not array');
      set([...((c as Json[] | undefined) ?? []), m.value]);
      break;
    }
    case 'remove-at': {
      const c = get();
      if (!Array.isArray(c) || m.index < 0 || m.index >= c.length) throw new Error('range');
      set(c.filter((_, i) => i !== m.index));
      break;
    }
  }
  return root.v;
}

function randomMutation(r: () => number): Mutation {
  if (r() < 0.15) return { op: 'batch', ops: Array.from({ length: 1 + Math.floor(r() * 4) }, () => randomSingle(r)) };
  return randomSingle(r);
}

function randomSingle(r: () => number): Mutation {
  const keys = ['a', 'b', 'c', 'list', '0', '1'];
  const depth = 1 + Math.floor(r() * 3);
  const path = Array.from({ length: depth }, () => keys[Math.floor(r() * keys.length)]).join('.');
  const values: Json[] = [1, 'x', null, true, { k: 2 }, [1, 2], []];
  const value = values[Math.floor(r() * values.length)]!;
  switch (Math.floor(r() * 5)) {
    case 0:
      return { op: 'set', path, value };
    case 1:
      return { op: 'delete', path };
    case 2:
      return { op: 'increment', path, by: Math.floor(r() * 5) - 2 };
    case 3:
      return { op: 'push', path, value };
    default:
      return { op: 'remove-at', path, index: Math.floor(r() * 3) };
  }
}

describe('document', () => {
  it('matches the reference over 40 000 random mutations, never changing its input', () => {
    const seed = Number(process.env.LEASEHOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const r = rng(seed);
    let applied = 0;
    for (let run = 0; run < 200; run++) {
      let doc: Json = {};
      for (let i = 0; i < 200; i++) {
        const m = randomMutation(r);
        const before: string = JSON.stringify(doc);
        let want: Json | Error;
        try {
          want = reference(doc, m);
        } catch (e) {
          want = e as Error;
        }
        let got: Json | Error;
        try {
          got = view(apply(doc, m));
        } catch (e) {
          got = e as Error;
        }
        assert.equal(JSON.stringify(doc), before, `seed ${seed}: apply changed its input (${JSON.stringify(m)})`);
        if (want instanceof Error) {
          assert.ok(
            got instanceof LeaseholdError && got.code === 'EPROTOCOL',
            `seed ${seed}: ${JSON.stringify(m)} on ${before} should be refused, got ${JSON.stringify(got)}`,
          );
        } else {
          assert.ok(!(got instanceof Error), `seed ${seed}: ${JSON.stringify(m)} on ${before} refused: ${(got as Error).message}`);
          assert.deepEqual(got, want, `seed ${seed}: ${JSON.stringify(m)} on ${before}`);
          doc = got as Json;
          applied++;
        }
      }
    }
    assert.ok(applied > 10_000, `only ${applied} mutations applied`);
  });

  it('applyFrozen leaves the whole document frozen after every mutation, as freezeDeep would', () => {
    const seed = Number(process.env.LEASEHOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const r = rng(seed);
    const allFrozen = (v: Doc): boolean =>
      v === null ||
      typeof v !== 'object' ||
      (Object.isFrozen(v) && (Array.isArray(v) ? v : Object.values(v as Record<string, Doc>)).every(allFrozen));
    let checked = 0;
    for (let run = 0; run < 300; run++) {
      let doc: Doc = freezeDeep({});
      for (let i = 0; i < 200; i++) {
        const m = randomMutation(r);
        try {
          doc = applyFrozen(doc, m);
        } catch {
          continue;
        }
        assert.ok(allFrozen(doc), `seed ${seed}: not all frozen after ${JSON.stringify(m)}`);
        checked++;
      }
    }
    assert.ok(checked > 5_000, `only ${checked} mutations checked`);
    // Found by this test: a batch whose first path runs through the new value of a later operation.
    const doc = freezeDeep({ b: 1, c: { a: { list: ['x'] } } });
    const m: Mutation = {
      op: 'batch',
      ops: [
        { op: 'delete', path: 'b.0.1' },
        { op: 'set', path: 'b', value: [1, 2] },
        { op: 'push', path: 'b', value: { k: 2 } },
      ],
    };
    assert.ok(allFrozen(applyFrozen(doc, m)));
  });

  it('refuses hostile mutations with EPROTOCOL naming the path', () => {
    const refused: unknown[] = [
      null,
      [],
      { op: 'set', path: '__proto__.x', value: 1 },
      { op: 'set', path: 'a.constructor', value: 1 },
      { op: 'set', path: 'a..b', value: 1 },
      { op: 'set', path: 'a' },
      { op: 'set', path: 'a', value: { __proto__: { polluted: 1 } } },
      { op: 'set', path: 'a', value: 'x'.repeat(300 * 1024) },
      { op: 'set', path: 'a', value: Number.NaN },
      { op: 'set', path: 'a', value: 1, extra: true },
      { op: 'launch', path: 'a' },
      { op: 'toString', path: 'a' },
      { op: 'increment', path: 'a', by: 'x' },
      { op: 'remove-at', path: 'a', index: 1.5 },
      { op: 'set', path: Array.from({ length: 100 }, () => 'a').join('.'), value: 1 },
    ];
    let deep: Json = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    refused.push({ op: 'set', path: 'a', value: deep });
    for (const m of refused)
      assert.throws(
        () => validateMutation(m),
        (e) => e instanceof LeaseholdError && e.code === 'EPROTOCOL',
        JSON.stringify(m)?.slice(0, 80),
      );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('applies the documented ops', () => {
    let d: Doc = {};
    d = apply(d, { op: 'set', path: 'todos', value: [] });
    d = apply(d, { op: 'push', path: 'todos', value: { text: 'milk', done: false } });
    d = apply(d, { op: 'set', path: 'todos.0.done', value: true });
    d = apply(d, { op: 'increment', path: 'counter' });
    d = apply(d, { op: 'increment', path: 'counter', by: 4 });
    assert.deepEqual(d, { todos: [{ text: 'milk', done: true }], counter: 5 });
    d = apply(d, { op: 'remove-at', path: 'todos', index: 0 });
    d = apply(d, { op: 'delete', path: 'counter' });
    assert.deepEqual(d, { todos: [] });
    assert.equal(getAt(d, 'todos.0'), undefined);
  });
});
