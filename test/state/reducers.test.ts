/** dispatch(action): the diff that turns a reducer's result into a batch, and the reducer's refusals. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, type Json, type Mutation } from '../../src/state/document.js';
import { diff, freezeDeep, reduce } from '../../src/state/reducers.js';
import { LeaseholdError } from '../../src/errors.js';
import { rng } from '../chaos/checker.js';

const isReducerError = (e: unknown) => e instanceof LeaseholdError && e.code === 'EREDUCER';

describe('reducers', () => {
  it('diff(a, b) applied to a gives b, for seeded random edits with structural sharing', () => {
    const seed = Number(process.env.LEASEHOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const r = rng(seed);
    const keys = ['a', 'b', 'c', 'list'];
    const value = (): Json => [1, 'x', null, { k: [1] }, [2, 3]][Math.floor(r() * 5)]!;
    for (let run = 0; run < 300; run++) {
      let a: Json = {};
      for (let i = 0; i < 10; i++) a = tryApply(a, { op: 'set', path: pick(r, keys, 1 + Math.floor(r() * 2)), value: value() });
      let b = a;
      for (let i = 0; i < 1 + Math.floor(r() * 5); i++) {
        const path = pick(r, keys, 1 + Math.floor(r() * 2));
        const roll = r();
        const m: Mutation =
          roll < 0.4
            ? { op: 'set', path, value: value() }
            : roll < 0.7
              ? { op: 'delete', path }
              : { op: 'push', path: 'list', value: value() };
        b = tryApply(b, m);
      }
      const ops = diff(a, b);
      assert.deepEqual(apply(a, { op: 'batch', ops }), b, `seed ${seed}: ${JSON.stringify({ a, b, ops })}`);
      if (a === b) assert.deepEqual(ops, []);
    }
  });

  it('turns an appended array into pushes, and keys that paths cannot name into a set of their parent', () => {
    const a = { list: [1, 2], o: { 'x.y': 1 } };
    const b = { list: [...a.list, 3], o: { 'x.y': 2 } };
    assert.deepEqual(diff(a, b), [
      { op: 'push', path: 'list', value: 3 },
      { op: 'set', path: 'o', value: { 'x.y': 2 } },
    ]);
  });

  it('rejects a missing reducer, one that throws, one that writes to the state, and a non-object result', () => {
    const state = freezeDeep({ todos: [] as Json[] });
    const reducers = {
      add: (s: Json, p: Json | undefined) => ({ ...(s as object), todos: [...(s as { todos: Json[] }).todos, p ?? null] }),
      boom: () => {
        throw new Error('no');
      },
      sneaky: (s: Json) => {
        (s as { todos: Json[] }).todos.push(1); // frozen: throws in strict code
        return s;
      },
      nothing: () => null,
    };
    assert.deepEqual(reduce(reducers, state, { type: 'add', payload: 'milk' }, 1024), {
      op: 'batch',
      ops: [{ op: 'push', path: 'todos', value: 'milk' }],
    });
    assert.throws(
      () => reduce(reducers, state, { type: 'missing' }, 1024),
      (e) => isReducerError(e) && /no reducer/.test((e as Error).message),
    );
    assert.throws(
      () => reduce(reducers, state, { type: 'boom' }, 1024),
      (e) => isReducerError(e) && /threw: no/.test((e as Error).message),
    );
    assert.throws(() => reduce(reducers, state, { type: 'sneaky' }, 1024), isReducerError);
    assert.throws(() => reduce(reducers, state, { type: 'nothing' }, 1024), isReducerError);
    assert.throws(() => reduce(reducers, state, { type: 'toString' }, 1024), isReducerError, 'inherited names are not reducers');
    assert.deepEqual(state, { todos: [] });
  });
});

function pick(r: () => number, keys: string[], depth: number): string {
  return Array.from({ length: depth }, () => keys[Math.floor(r() * keys.length)]).join('.');
}

function tryApply(doc: Json, m: Mutation): Json {
  try {
    return apply(doc, m) as Json; // small documents: no wide objects
  } catch {
    return doc;
  }
}
