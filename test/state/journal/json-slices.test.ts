/** The snapshot writer's JSON text, a slice at a time: the same text as JSON.stringify, wide objects included. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serializeInSlices } from '../../../src/state/journal/json-slices.js';
import { apply, type Doc, type Json, type Mutation } from '../../../src/state/document.js';
import { view, WideObject, WIDE_OBJECT_MIN_KEYS } from '../../../src/state/wide-object.js';
import { systemClock } from '../../../src/clock.js';
import { WideArray, WIDE_ARRAY_MIN_LENGTH } from '../../../src/state/wide-array.js';

async function text(value: Doc, chunkChars: number): Promise<{ text: string; chunks: number }> {
  const chunks: string[] = [];
  await serializeInSlices(value, async (t) => void chunks.push(t), { clock: systemClock, sliceMs: 0, chunkChars });
  return { text: chunks.join(''), chunks: chunks.length };
}

describe('json-slices', () => {
  it('writes what JSON.stringify writes for plain JSON, in several chunks', async () => {
    const value: Json = {
      a: [1, { b: 'x', c: [null, true] }],
      big: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, [i]])),
    };
    const out = await text(value, 256);
    assert.equal(out.text, JSON.stringify(value));
    assert.ok(out.chunks > 10);
  });

  it('walks wide objects (nested, with array-index keys, after deletes) in the key order their view has', async () => {
    const wide: Record<string, Json> = {};
    for (let i = 0; i < 3 * WIDE_OBJECT_MIN_KEYS; i++) wide[i % 5 === 0 ? String(i) : `k${i}`] = i % 7 === 0 ? { inner: i } : i;
    let doc: Doc = { w: wide, list: [wide], s: 1 };
    const ms: Mutation[] = [
      { op: 'set', path: 'w.k1', value: 'changed' },
      { op: 'delete', path: 'w.k2' },
      { op: 'set', path: 'w.k2', value: 'back, at the end' },
      { op: 'set', path: 'w.4294967295', value: 'not an index' },
      { op: 'set', path: 'list.0.k3', value: 'in an array' },
      { op: 'set', path: 'w.k7.inner', value: { deeper: true } },
      { op: 'set', path: 'w.k8', value: wide }, // a wide plain value under a wide object
      { op: 'set', path: 'w.k8.k9', value: -9 },
    ];
    for (const m of ms) doc = apply(doc, m);
    const w = (doc as Record<string, Doc>).w as WideObject;
    assert.ok(w instanceof WideObject && w.get('k8') instanceof WideObject);
    assert.ok((doc as { list: Doc[] }).list[0] instanceof WideObject);
    const out = await text(doc, 4096);
    assert.equal(out.text, JSON.stringify(view(doc)));
    assert.deepEqual(JSON.parse(out.text), view(doc));
  });

  it('walks wide arrays (long, holding wide objects and long strings) in order', async () => {
    const wide: Record<string, Json> = Object.fromEntries(Array.from({ length: 2 * WIDE_OBJECT_MIN_KEYS }, (_, i) => [`k${i}`, i]));
    const long = Array.from({ length: 50 * WIDE_ARRAY_MIN_LENGTH }, (_, i): Json => (i % 1000 === 0 ? wide : i % 3 === 0 ? 'x'.repeat(i % 100) : i));
    let doc: Doc = { log: long, s: 1 };
    const ms: Mutation[] = [
      { op: 'push', path: 'log', value: 'pushed' },
      { op: 'set', path: 'log.1000.k1', value: 'changed in a wide object in a wide array' },
      { op: 'remove-at', path: 'log', index: 5 },
      { op: 'delete', path: 'log.7' },
    ];
    for (const m of ms) doc = apply(doc, m);
    const log = (doc as Record<string, Doc>).log as WideArray;
    assert.ok(log instanceof WideArray && log.get(998) instanceof WideObject);
    const out = await text(doc, 4096);
    assert.equal(out.text, JSON.stringify(view(doc)));
    assert.deepEqual(JSON.parse(out.text), view(doc));
    assert.ok(out.chunks > 10);
  });
});
