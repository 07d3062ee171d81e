/**
 * WideArray on its own (a persistent array of chunks), and the document engine that uses it against the
 * plain copy-on-write model (plain-model.ts): random mutations over arrays whose lengths cross the
 * thresholds both ways must give the same JSON at every step, frozen as users see it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { apply, type Doc, type Json, type Mutation } from '../../src/state/document.js';
import { applyFrozen, freezeDeep } from '../../src/state/reducers.js';
import { view, WideObject } from '../../src/state/wide-object.js';
import { WideArray, WIDE_ARRAY_MIN_LENGTH, WIDE_ARRAY_PLAIN_BELOW } from '../../src/state/wide-array.js';
import { stepBoth } from './plain-model.js';

describe('WideArray', () => {
  it('reads, pushes, replaces and removes like an array, leaving every earlier version as it was', () => {
    const model: number[] = [];
    let a = WideArray.from([]);
    for (let i = 0; i < 40_000; i++) {
      a = a.push(i);
      model.push(i);
    }
    assert.equal(a.length, 40_000);
    assert.deepEqual(a.toPlain(), model);
    assert.equal(a.get(-1), undefined);
    assert.equal(a.get(40_000), undefined);
    assert.equal(a.get(1.5), undefined);
    const full = a;
    // Replacements and removals at the ends, at chunk edges and in between.
    for (let k = 0; k < 3000; k++) {
      const i = (k * 7919) % model.length;
      if (k % 3 === 0) {
        a = a.set(i, -k);
        model[i] = -k;
      } else {
        const at = k % 5 === 0 ? 0 : k % 7 === 0 ? model.length - 1 : i;
        a = a.removeAt(at);
        model.splice(at, 1);
      }
      if (k % 500 === 0) for (let j = 0; j < model.length; j += 97) assert.equal(a.get(j), model[j], `at ${j} after ${k} changes`);
    }
    assert.deepEqual(a.toPlain(), model);
    assert.equal(a.length, model.length);
    assert.deepEqual(full.toPlain(), Array.from({ length: 40_000 }, (_, i) => i), 'the earlier version is untouched');
    // Down to nothing, from the front (a queue), then pushed onto again.
    while (a.length > 0) a = a.removeAt(0);
    assert.deepEqual(a.toPlain(), []);
    assert.deepEqual(a.push('again').toPlain(), ['again']);
    assert.throws(() => a.removeAt(0), RangeError);
    assert.throws(() => full.set(40_000, 1), RangeError);
  });

  it('matches an array under random pushes, replacements and removals around chunk edges', () => {
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ k: fc.constant('push' as const), v: fc.integer() }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.integer() }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant('remove' as const), at: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1100 }), fc.array(op, { maxLength: 300 }), (length, ops) => {
        const model = Array.from({ length }, (_, i) => i);
        let a = WideArray.from(model);
        for (const o of ops) {
          if (o.k === 'push') {
            a = a.push(o.v);
            model.push(o.v);
          } else if (model.length > 0) {
            const at = o.at % model.length;
            if (o.k === 'set') {
              a = a.set(at, o.v);
              model[at] = o.v;
            } else {
              a = a.removeAt(at);
              model.splice(at, 1);
            }
          }
          assert.equal(a.length, model.length);
        }
        assert.deepEqual(a.toPlain(), model);
        assert.deepEqual(view(a), model);
        assert.equal(JSON.stringify(a), JSON.stringify(model));
      }),
      { numRuns: 200 },
    );
  });
});

// ---- the document engine against the plain copy-on-write model ------------------------------------------

/** Frozen as far down as users can see, wide nodes included (marked frozen, their elements frozen). */
const frozen = (v: Doc | undefined): boolean => {
  if (v === null || typeof v !== 'object') return true;
  if (v instanceof WideArray) return v.frozen && v.toPlain().every(frozen);
  if (v instanceof WideObject) return v.frozen && v.entries().every((e) => frozen(e.value));
  return Object.isFrozen(v) && (Array.isArray(v) ? v : Object.values(v)).every(frozen);
};

const scalar = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('x', null, true));
const element: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 1, arbitrary: fc.record({ n: scalar, list: fc.array(scalar, { maxLength: 2 }) }) },
);
/** An index near the start, near WIDE_ARRAY_MIN_LENGTH or beyond: some in range, some past the end. */
const index = fc.oneof(fc.nat(8), fc.integer({ min: WIDE_ARRAY_PLAIN_BELOW - 4, max: WIDE_ARRAY_MIN_LENGTH + 8 }));
/** One mutation of `a` (the candidate), under it, or beside it. */
const single: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: element.map((value): Mutation => ({ op: 'push', path: 'a', value })) },
  { weight: 3, arbitrary: index.map((index): Mutation => ({ op: 'remove-at', path: 'a', index })) },
  { weight: 2, arbitrary: fc.record({ i: index, value: element }).map(({ i, value }): Mutation => ({ op: 'set', path: `a.${i}`, value })) },
  { weight: 2, arbitrary: index.map((i): Mutation => ({ op: 'delete', path: `a.${i}` })) },
  { weight: 1, arbitrary: fc.record({ i: index, value: scalar }).map(({ i, value }): Mutation => ({ op: 'set', path: `a.${i}.n`, value })) },
  { weight: 1, arbitrary: fc.record({ i: index, value: scalar }).map(({ i, value }): Mutation => ({ op: 'push', path: `a.${i}.list`, value })) },
  { weight: 1, arbitrary: index.map((i): Mutation => ({ op: 'increment', path: `a.${i}.n` })) },
  { weight: 1, arbitrary: scalar.map((value): Mutation => ({ op: 'set', path: 's', value })) },
);
/** Many pushes or removals at once: the length moves across a threshold within one batch. */
const run = fc
  .record({ count: fc.integer({ min: 1, max: 120 }), remove: fc.boolean() })
  .map(({ count, remove }): Mutation => ({
    op: 'batch',
    ops: Array.from({ length: count }, (_, i): Mutation => (remove ? { op: 'remove-at', path: 'a', index: 0 } : { op: 'push', path: 'a', value: i })),
  }));
const mutation = fc.oneof({ weight: 8, arbitrary: single }, { weight: 2, arbitrary: run });

/** Applies `ms` to both engines, checking the same refusals, the same JSON, frozen nodes, and the kinds `a` went through. */
function check(initial: Json, ms: readonly Mutation[]): Set<string> {
  let model = initial;
  let doc: Doc = freezeDeep(structuredClone(initial));
  const kinds = new Set<string>();
  for (const m of ms) {
    const step = stepBoth(model, doc, m);
    ({ model, doc } = step);
    if (!step.applied) continue;
    const what = JSON.stringify(m).slice(0, 200);
    assert.deepStrictEqual(view(doc), model, what);
    assert.equal(JSON.stringify(doc), JSON.stringify(model), `${what}: toJSON`);
    assert.ok(frozen(doc), `${what}: not frozen`);
    const a = (doc as Record<string, Doc>).a;
    kinds.add(a instanceof WideArray ? 'wide' : Array.isArray(a) ? 'plain' : 'other');
  }
  return kinds;
}

describe('document with wide arrays, against the plain model', () => {
  it('gives the same JSON at every step as arrays grow past the threshold and shrink back below half of it', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.integer({ min: WIDE_ARRAY_PLAIN_BELOW - 10, max: WIDE_ARRAY_MIN_LENGTH + 10 }), fc.array(mutation, { minLength: 1, maxLength: 25 }), (length, ms) => {
        const a = Array.from({ length }, (_, i): Json => (i % 4 === 0 ? { n: i, list: [i] } : i));
        for (const k of check({ a, s: 'sibling' }, ms)) seen.add(k);
      }),
      { numRuns: 150 },
    );
    assert.ok(seen.has('wide') && seen.has('plain'), `kinds seen: ${[...seen]}`);
  });

  it('turns a long array wide when written into, and plain again when removals leave it short', () => {
    let doc: Doc = freezeDeep({ a: Array.from({ length: WIDE_ARRAY_MIN_LENGTH }, (_, i) => i) });
    const push: Mutation = { op: 'push', path: 'a', value: 'end' };
    doc = applyFrozen(doc, push);
    const a = (doc as { a: Doc }).a;
    assert.ok(a instanceof WideArray && a.length === WIDE_ARRAY_MIN_LENGTH + 1);
    // The view is a plain frozen array, built once per version.
    const v = view(a);
    assert.ok(Array.isArray(v) && Object.isFrozen(v) && v.length === WIDE_ARRAY_MIN_LENGTH + 1 && v.at(-1) === 'end');
    assert.equal(view(a), v);
    const shrink: Mutation = {
      op: 'batch',
      ops: Array.from({ length: WIDE_ARRAY_MIN_LENGTH + 1 - (WIDE_ARRAY_PLAIN_BELOW - 1) }, (): Mutation => ({ op: 'remove-at', path: 'a', index: 0 })),
    };
    doc = applyFrozen(doc, shrink);
    const b = (doc as { a: Doc }).a;
    assert.ok(Array.isArray(b) && b.length === WIDE_ARRAY_PLAIN_BELOW - 1 && b.at(-1) === 'end' && Object.isFrozen(b));
    // A wide array at the root, and a push onto a path that holds nothing yet.
    const root = apply(Array.from({ length: WIDE_ARRAY_MIN_LENGTH + 5 }, (_, i) => i) as Doc, { op: 'push', path: '', value: 1 });
    assert.ok(root instanceof WideArray && root.length === WIDE_ARRAY_MIN_LENGTH + 6);
    assert.deepEqual(view(apply({}, { op: 'push', path: 'x', value: 1 })), { x: [1] });
  });
});
