/**
 * Replay in place against `apply` (copy-on-write, wide objects included, itself checked against a plain
 * model in wide-object.test.ts): the same refusals, the same JSON and key order after every entry, and
 * the entries left as they were.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { apply, type Doc, type Json, type Mutation } from '../../src/state/document.js';
import { applyInPlace } from '../../src/state/replay.js';
import { view, WIDE_OBJECT_MIN_KEYS } from '../../src/state/wide-object.js';
import { LeaseholdError } from '../../src/errors.js';

const KEYS = 2 * WIDE_OBJECT_MIN_KEYS;
const key = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: KEYS - 1 }).map((i) => `k${i}`) },
  { weight: 1, arbitrary: fc.constantFrom('0', '1', '3', '01', '4294967295') },
);
const scalar = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', null, true));
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'list'), scalar, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
);
/** Paths in `w` (which crosses the width where objects become wide), in a list, and at the root. */
const path = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(key, fc.option(fc.constantFrom('a', 'list', '0', '1'), { nil: undefined }))
      .map(([k, s]) => (s ? `w.${k}.${s}` : `w.${k}`)),
  },
  { weight: 2, arbitrary: fc.constantFrom('list', 'list.0', 'list.1', 'list.5', 'list.0.a', 'n', 's.x') },
);
const single: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ path, value }).map(({ path, value }): Mutation => ({ op: 'set', path, value })) },
  { weight: 4, arbitrary: path.map((path): Mutation => ({ op: 'delete', path })) },
  {
    weight: 2,
    arbitrary: fc.record({ path, by: fc.integer({ min: -2, max: 2 }) }).map(({ path, by }): Mutation => ({ op: 'increment', path, by })),
  },
  { weight: 2, arbitrary: fc.record({ path, value }).map(({ path, value }): Mutation => ({ op: 'push', path, value })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ path, index: fc.integer({ min: -1, max: 3 }) })
      .map(({ path, index }): Mutation => ({ op: 'remove-at', path, index })),
  },
  { weight: 1, arbitrary: fc.constantFrom<Mutation>({ op: 'set', path: '', value: { w: {} } }, { op: 'delete', path: '' }) },
);
const mutation = fc.oneof(
  { weight: 8, arbitrary: single },
  { weight: 1, arbitrary: fc.array(single, { maxLength: 6 }).map((ops): Mutation => ({ op: 'batch', ops })) },
);

function start(width: number): Json {
  const w: Record<string, Json> = {};
  for (let i = 0; i < width; i++) w[`k${(i * 5) % KEYS}`] = i % 4 === 0 ? { a: i, list: [i] } : i;
  return { w, list: [{ a: 1 }, 2], n: 1, s: { x: [1] } };
}

const refused = (fn: () => unknown): unknown => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e;
  }
};

describe('replay in place', () => {
  it('gives what apply gives, values and key order, after every entry; refuses what apply refuses', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: WIDE_OBJECT_MIN_KEYS - 8, max: KEYS }),
        fc.array(mutation, { minLength: 1, maxLength: 25 }),
        (width, ms) => {
          let reference: Doc = start(width);
          let doc: Json = start(width);
          for (const m of ms) {
            const what = JSON.stringify(m).slice(0, 160);
            const before = JSON.stringify(m);
            const e = refused(() => (reference = apply(reference, m)));
            if (e !== undefined) {
              // A journal never holds such an entry; in place it is refused too (what it changed is discarded).
              const copy = structuredClone(doc);
              const mine = refused(() => applyInPlace(copy, m));
              assert.ok(mine instanceof LeaseholdError && mine.code === 'EPROTOCOL', `${what}: should be refused`);
              continue;
            }
            doc = applyInPlace(doc, m);
            assert.equal(JSON.stringify(doc), JSON.stringify(view(reference)), what);
            assert.equal(JSON.stringify(m), before, `${what}: the entry itself changed`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('copies the values in: a later entry that changes one leaves the earlier entry as it was', () => {
    const first: Mutation = { op: 'set', path: 'a', value: { list: [1] } };
    const second: Mutation = { op: 'push', path: 'a.list', value: { b: 1 } };
    const third: Mutation = { op: 'set', path: 'a.list.1.b', value: 2 };
    let doc: Json = {};
    for (const m of [first, second, third]) doc = applyInPlace(doc, m);
    assert.deepEqual(doc, { a: { list: [1, { b: 2 }] } });
    assert.deepEqual(first, { op: 'set', path: 'a', value: { list: [1] } });
    assert.deepEqual(second, { op: 'push', path: 'a.list', value: { b: 1 } });
  });
});
