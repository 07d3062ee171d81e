/**
 * WideObject on its own (a persistent map with the key order of a plain object), and the document engine
 * that uses it against the plain copy-on-write engine it replaced, kept here only as the model: random
 * mutation sequences over objects whose widths cross the thresholds both ways must give the same JSON,
 * key order included, at every step.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { apply, type Doc, type Json, type Mutation } from '../../src/state/document.js';
import { applyFrozen, freezeDeep } from '../../src/state/reducers.js';
import { view, WideObject, WIDE_OBJECT_MIN_KEYS, WIDE_OBJECT_PLAIN_BELOW } from '../../src/state/wide-object.js';
import { stepBoth } from './plain-model.js';

/** Pairs of keys whose 32-bit FNV-1a hashes are equal (they share a bucket). */
const COLLIDING = [
  ['costarring', 'liquid'],
  ['declinate', 'macallums'],
  ['altarage', 'zinke'],
] as const;

const plainOf = (entries: Iterable<readonly [string, Doc]>) => Object.fromEntries(entries) as Record<string, Doc>;

describe('WideObject', () => {
  it('reads, writes and deletes like a Map, sharing what did not change, across many keys and collisions', () => {
    const keys = Array.from({ length: 50_000 }, (_, i) => `key-${(i * 7919) % 50_000}`);
    for (const pair of COLLIDING) keys.push(...pair);
    const model = new Map<string, Doc>();
    let w = WideObject.from({});
    for (const k of keys) {
      w = w.set(k, k.length);
      model.set(k, k.length);
    }
    assert.equal(w.size, model.size);
    for (const [k, v] of model) assert.equal(w.get(k), v, k);
    assert.equal(w.get('absent'), undefined);
    assert.equal(w.has('liquid'), true);
    // The same value: the same object; an absent key deleted: the same object.
    assert.equal(w.set('liquid', 6), w);
    assert.equal(w.delete('absent'), w);
    // A version is never changed by the versions made from it.
    const before = w;
    const after = w.set('liquid', 'changed').delete('costarring').delete('key-3');
    assert.equal(before.get('liquid'), 6);
    assert.equal(before.get('costarring'), 10);
    assert.equal(before.size, model.size);
    assert.equal(after.get('liquid'), 'changed');
    assert.equal(after.has('costarring'), false);
    assert.equal(after.has('key-3'), false);
    assert.equal(after.size, model.size - 2);
    // Deleting everything, colliding keys included, in another order than insertion.
    let d = w;
    for (const k of [...keys].reverse()) {
      d = d.delete(k);
      model.delete(k);
      if (model.size % 5000 === 0) for (const [mk, mv] of model) assert.equal(d.get(mk), mv, `${mk} after deleting down to ${model.size}`);
    }
    assert.equal(d.size, 0);
    assert.deepEqual(d.entries(), []);
    assert.equal(w.size, keys.length); // untouched
  });

  it('presents keys in the order a plain object with the same history would', () => {
    const o: Record<string, Doc> = {};
    const ops: Array<[string, Doc | undefined]> = [
      ['b', 1],
      ['10', 2],
      ['a', 3],
      ['2', 4],
      ['4294967295', 5], // not an array index: insertion order
      ['4294967294', 6], // the largest array index
      ['01', 7],
      ['liquid', 8],
      ['costarring', 9],
      ['b', undefined], // deleted…
      ['c', 10],
      ['b', 11], // …and set again: at the end
      ['a', 12], // overwritten: stays in place
    ];
    let w = WideObject.from({});
    for (const [k, v] of ops) {
      if (v === undefined) {
        delete o[k];
        w = w.delete(k);
      } else {
        o[k] = v;
        w = w.set(k, v);
      }
      assert.deepEqual(
        w.entries().map((e) => e.key),
        Object.keys(o),
      );
    }
    assert.equal(JSON.stringify(w), JSON.stringify(o));
    // Converting a plain object keeps its order; the view is a plain, frozen object.
    const converted = WideObject.from(o);
    assert.deepEqual(Object.keys(view(converted) as object), Object.keys(o));
    assert.equal(Object.getPrototypeOf(view(converted)), Object.prototype);
    assert.ok(Object.isFrozen(view(converted)));
    assert.equal(view(converted), view(converted), 'the view is built once');
  });

  it('orders many keys after many deletes (sparse stamps) as a plain object does', () => {
    const o: Record<string, Doc> = {};
    let w = WideObject.from({});
    for (let round = 0; round < 6; round++)
      for (let i = 0; i < 3000; i++) {
        const k = `k${(i * 31 + round * 17) % 2000}`;
        if ((i + round) % 3 === 0) {
          delete o[k];
          w = w.delete(k);
        } else {
          o[k] = i;
          w = w.set(k, i);
        }
      }
    assert.equal(JSON.stringify(w), JSON.stringify(o));
  });
});

// ---- the document engine against the plain copy-on-write model ------------------------------------------

/** Keys of the wide candidate `w`: ordinary ones, array indices, near-indices, and colliding pairs. */
const KEY_COUNT = 4 * WIDE_OBJECT_MIN_KEYS;
const key = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: KEY_COUNT - 1 }).map((i) => `k${i}`) },
  { weight: 1, arbitrary: fc.constantFrom('0', '7', '42', '4294967294', '4294967295', '01', ...COLLIDING.flat()) },
);
const scalar = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('x', null, true));
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'list'), scalar, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
);
const under = (k: string, sub?: string) => (sub === undefined ? `w.${k}` : `w.${k}.${sub}`);
const sub = fc.option(fc.constantFrom('a', 'b', 'list', '0'), { nil: undefined, freq: 2 });
/** One mutation in or under `w` (or beside it), of every kind. */
const single: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ k: key, s: sub, value }).map(({ k, s, value }): Mutation => ({ op: 'set', path: under(k, s), value })),
  },
  { weight: 5, arbitrary: fc.record({ k: key, s: sub }).map(({ k, s }): Mutation => ({ op: 'delete', path: under(k, s) })) },
  { weight: 2, arbitrary: key.map((k): Mutation => ({ op: 'increment', path: under(k) })) },
  { weight: 1, arbitrary: fc.record({ k: key, value }).map(({ k, value }): Mutation => ({ op: 'push', path: under(k, 'list'), value })) },
  { weight: 1, arbitrary: key.map((k): Mutation => ({ op: 'remove-at', path: under(k, 'list'), index: 0 })) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constantFrom('s', 'n'), value }).map(({ k, value }): Mutation => ({ op: 'set', path: k, value })),
  },
  // The whole wide candidate replaced by a plain value (an object, or something else).
  { weight: 1, arbitrary: fc.constantFrom<Mutation>({ op: 'set', path: 'w', value: { k1: 1 } }, { op: 'set', path: 'w', value: 3 }) },
);
/** Runs of sets or deletes over a range of keys (the model copies `w` at each: kept short). */
const run = fc
  .record({ from: fc.nat(KEY_COUNT - 1), count: fc.integer({ min: 1, max: 60 }), del: fc.boolean() })
  .map(({ from, count, del }): Mutation => {
    const ops: Mutation[] = [];
    for (let j = from; j < from + count; j++) {
      const i = j % KEY_COUNT;
      ops.push(del ? { op: 'delete', path: `w.k${i}` } : { op: 'set', path: `w.k${i}`, value: i });
    }
    return { op: 'batch', ops };
  });
const mutation = fc.oneof({ weight: 9, arbitrary: single }, { weight: 1, arbitrary: run });

/** A document whose `w` has `width` keys (some holding objects), with a sibling `s`. */
function startOf(width: number, nested: boolean): Json {
  const w: Record<string, Json> = {};
  for (let i = 0; i < width; i++) w[`k${(i * 7) % KEY_COUNT}`] = nested && i % 3 === 0 ? { a: i, list: [i] } : i;
  return { w, s: { x: [1, 2] } };
}


const frozen = (v: Json): boolean =>
  v === null || typeof v !== 'object' || (Object.isFrozen(v) && (Array.isArray(v) ? v : Object.values(v)).every(frozen));

/**
 * Applies `ms` to both engines, checking after each: the same refusals, the same JSON (values and key
 * order at every level: deepStrictEqual ignores order, the text does not), what users see frozen, and
 * unchanged parts keeping their identity. Returns the model's document and the engine's, and what `w` was
 * after each step.
 */
function check(initial: Json, doc: Doc, ms: readonly Mutation[]): { model: Json; doc: Doc; kinds: Array<'wide' | 'plain' | 'other'> } {
  let model = initial;
  const kinds: Array<'wide' | 'plain' | 'other'> = [];
  for (const m of ms) {
    const before = view(doc);
    const step = stepBoth(model, doc, m);
    ({ model, doc } = step);
    if (!step.applied) continue;
    const what = JSON.stringify(m).slice(0, 200);
    const got = view(doc);
    assert.deepStrictEqual(got, model, what);
    assert.equal(JSON.stringify(got), JSON.stringify(model), what);
    assert.equal(JSON.stringify(doc), JSON.stringify(model), `${what}: toJSON`);
    assert.ok(frozen(got), `${what}: not frozen`);
    if (m.op !== 'batch' && (m as { path: string }).path.startsWith('w.') && typeof before === 'object' && before !== null)
      assert.equal((got as Record<string, Json>).s, (before as Record<string, Json>).s, `${what}: a sibling's view was rebuilt`);
    const w = (doc as Record<string, Doc>).w;
    kinds.push(w instanceof WideObject ? 'wide' : w !== null && typeof w === 'object' && !Array.isArray(w) ? 'plain' : 'other');
  }
  return { model, doc, kinds };
}

describe('document with wide objects, against the plain model', () => {
  it('gives the same JSON and key order at every step, around the width where objects become wide', () => {
    let wide = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: WIDE_OBJECT_MIN_KEYS / 2, max: KEY_COUNT }),
        fc.boolean(),
        fc.array(mutation, { minLength: 1, maxLength: 20 }),
        (width, nested, ms) => {
          const initial = startOf(width, nested);
          if (check(initial, freezeDeep(structuredClone(initial)), ms).kinds.includes('wide')) wide++;
        },
      ),
      { numRuns: 100 },
    );
    assert.ok(wide >= 10, `only ${wide} runs made an object wide`);
  });

  it('gives the same JSON and key order at every step, as deletes narrow a wide object back to plain', () => {
    let narrowed = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: WIDE_OBJECT_MIN_KEYS + 1, max: KEY_COUNT }),
        fc.integer({ min: -15, max: 15 }),
        fc.array(single, { minLength: 1, maxLength: 30 }),
        (width, around, ms) => {
          const initial = startOf(width, true);
          // One write makes `w` wide; then deletes bring it to about WIDE_OBJECT_PLAIN_BELOW keys. The model
          // is built directly (a plain copy, keys deleted in place: what the plain engine does, without
          // copying `w` at each of hundreds of deletes).
          const keys = Object.keys((initial as { w: object }).w);
          const drop = keys.slice(0, keys.length - (WIDE_OBJECT_PLAIN_BELOW + around));
          let doc = applyFrozen(freezeDeep(structuredClone(initial)), { op: 'set', path: `w.${keys[0]}`, value: 'first' });
          assert.ok((doc as Record<string, Doc>).w instanceof WideObject);
          const batch: Mutation = { op: 'batch', ops: drop.map((k) => ({ op: 'delete', path: `w.${k}` })) };
          doc = applyFrozen(doc, batch);
          const model = structuredClone(initial) as { w: Record<string, Json> };
          model.w[keys[0]!] = 'first';
          for (const k of drop) delete model.w[k];
          assert.equal(JSON.stringify(doc), JSON.stringify(model));
          const { kinds } = check(model, doc, ms);
          for (let i = 1; i < kinds.length; i++) if (kinds[i - 1] === 'wide' && kinds[i] === 'plain' && ms[i]!.op === 'delete') narrowed++;
          if (around < 0) narrowed++; // the batch itself narrowed it
          assert.equal((doc as Record<string, Doc>).w instanceof WideObject, around >= 0);
        },
      ),
      { numRuns: 100 },
    );
    assert.ok(narrowed > 10, `narrowed only ${narrowed} times`);
  });

  it('makes a plain object wide when it is first written into, and plain again below the lower threshold', () => {
    const wide = plainOf(Array.from({ length: WIDE_OBJECT_MIN_KEYS + 1 }, (_, i) => [`k${i}`, i] as const));
    let doc: Doc = { w: wide };
    doc = apply(doc, { op: 'set', path: 'w.k0', value: -1 });
    assert.ok((doc as Record<string, Doc>).w instanceof WideObject);
    assert.equal(Object.keys((view(doc) as { w: object }).w).length, WIDE_OBJECT_MIN_KEYS + 1);
    const dels: Mutation[] = [];
    for (let i = 1; i <= WIDE_OBJECT_MIN_KEYS + 2 - WIDE_OBJECT_PLAIN_BELOW; i++) dels.push({ op: 'delete', path: `w.k${i}` });
    doc = apply(doc, { op: 'batch', ops: dels });
    const w = (doc as Record<string, Doc>).w;
    assert.ok(!(w instanceof WideObject) && Object.getPrototypeOf(w) === Object.prototype);
    assert.equal(Object.keys(w as object).length, WIDE_OBJECT_PLAIN_BELOW - 1);
    assert.equal((w as Record<string, Doc>).k0, -1);
  });
});
