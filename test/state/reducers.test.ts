/** dispatch(action): the diff that turns a reducer's result into a batch, and the reducer's refusals. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, type Json, type Mutation } from '../../src/state/document.js';
import { diff, freezeDeep, reduce, type Reducers } from '../../src/state/reducers.js';
import { join } from '../../src/instance/instance.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { tempRoot } from '../helpers.js';
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

describe('typed actions: join<State, Actions>()', () => {
  interface Counter {
    n?: number;
    log?: string[];
  }
  type CounterAction = { type: 'add'; payload: number } | { type: 'note'; payload: string } | { type: 'reset' };
  // Each reducer gets its own action's payload type; a missing one, or one for another type, does not compile.
  const reducers: Reducers<Counter, CounterAction> = {
    add: (s, by) => {
      if (typeof by !== 'number') throw new Error('add takes a number'); // what arrives is what was sent
      return { ...s, n: (s.n ?? 0) + by };
    },
    note: (s, text) => ({ ...s, log: [...(s.log ?? []), text.toUpperCase()] }),
    reset: (s, nothing) => (nothing === undefined ? { log: s.log ?? [] } : s),
  };
  // @ts-expect-error: the reducer of 'reset' is missing
  const missing: Reducers<Counter, CounterAction> = { add: reducers.add, note: reducers.note };
  // @ts-expect-error: 'add' takes a number, not a string
  const wrongPayload: Reducers<Counter, CounterAction> = { ...reducers, add: (s, by: string) => ({ ...s, log: [by] }) };
  void missing;
  void wrongPayload;

  it('dispatch takes only the declared actions, with their payloads, and the owner runs their reducers', async () => {
    const root = await tempRoot();
    const i = join<Counter, CounterAction>({ dataRoot: root.dir, store: new MemoryLeaseStore(), reducers });
    try {
      await i.whenOwner();
      await i.state.dispatch({ type: 'add', payload: 2 });
      await i.state.dispatch({ type: 'note', payload: 'hi' });
      // @ts-expect-error: a string where 'add' takes a number
      await assert.rejects(i.state.dispatch({ type: 'add', payload: 'x' }), isReducerError, 'the type is the sender’s promise: the reducer checks');
      // @ts-expect-error: no such action
      await assert.rejects(i.state.dispatch({ type: 'nope' }), isReducerError);
      assert.deepEqual(i.state.get(), { n: 2, log: ['HI'] });
      await i.state.dispatch({ type: 'reset' });
      assert.deepEqual(i.state.get(), { log: ['HI'] });
    } finally {
      await i.close();
      await root.remove();
    }
  });
});
