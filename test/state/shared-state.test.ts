/** Shared state across instances in one process (real sockets, real journal, memory lease store). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, type Instance } from '../../src/instance/instance.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { LeaseholdError } from '../../src/errors.js';
import { tempRoot, until } from '../helpers.js';
import type { Json } from '../../src/state/document.js';
import { replicaOf, SharedState } from '../../src/state/shared-state.js';
import { WIDE_OBJECT_MIN_KEYS } from '../../src/state/wide-object.js';

describe('shared state', () => {
  it('followers and the owner mutate one state; a handover keeps it and replays what was pending', async () => {
    const root = await tempRoot();
    const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
    const make = () => join({ dataRoot: root.dir, ttlMs: 1000, store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }) });
    const insts: Instance[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const x = make();
        insts.push(x);
        await x.whenConnected();
      }
      const [a, b, c] = insts as [Instance, Instance, Instance];
      await Promise.all([b.state.whenSynced(), c.state.whenSynced()]);
      const v1 = await b.state.set('todos', []);
      const v2 = await c.state.push('todos', { text: 'milk' });
      const v3 = await a.state.increment('counter');
      assert.deepEqual([v1, v2, v3], [1, 2, 3]);
      await until(() => b.state.version === 3 && c.state.version === 3, 2000, 'replicas at 3');
      assert.deepEqual(b.state.get(), { todos: [{ text: 'milk' }], counter: 1 });
      assert.deepEqual(c.state.get(), a.state.get());

      const seen: number[] = [];
      c.state.subscribe((ch) => seen.push(ch.version));
      // An invalid mutation is refused to its sender only; the state is unchanged.
      await assert.rejects(
        b.state.mutate({ op: 'increment', path: 'todos' }),
        (e) => e instanceof LeaseholdError && e.code === 'EPROTOCOL',
      );
      assert.equal(a.state.version, 3);

      // Not durable: acknowledged once applied; the replicas still converge.
      const fast = await c.state.increment('fast', 1, { durable: false });
      assert.equal(fast, 4);
      await until(() => b.state.version === 4 && (b.state.get() as { fast?: number }).fast === 1, 2000, 'fast change replicated');
      await assert.rejects(
        c.state.increment('fast', 1, { durable: 'no' as never }),
        (e) => e instanceof LeaseholdError && e.code === 'EINVALIDCONFIG',
      );

      // Mutations issued around a graceful handover all land exactly once.
      const inflight = Array.from({ length: 20 }, (_, i) => c.state.increment('counter', 1).then((v) => ({ i, v })));
      await a.close();
      const results = await Promise.all(inflight);
      await b.whenOwner();
      await until(() => c.state.version === b.state.version && c.state.pendingCount === 0, 3000, 'c caught up');
      assert.equal((b.state.get() as { counter: number }).counter, 21);
      assert.deepEqual(c.state.get(), b.state.get());
      assert.equal(new Set(results.map((r) => r.v)).size, 20, 'distinct committed versions');
      assert.ok(seen.length >= 20);
    } finally {
      await Promise.all(insts.map((i) => i.close()));
      await root.remove();
    }
  });

  it('dispatch runs the reducer on the owner, once per action, and refuses a failing one to its sender', async () => {
    const root = await tempRoot();
    const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
    let runs = 0;
    const reducers = {
      addTodo: (s: Json, p: Json | undefined) => {
        runs++;
        const todos = ((s as { todos?: Json[] }).todos ?? []) as Json[];
        return { ...(s as object), todos: [...todos, { text: p ?? '', done: false }] };
      },
      fail: () => {
        throw new Error('refused by the app');
      },
    };
    const make = () =>
      join({ dataRoot: root.dir, ttlMs: 1000, reducers, store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }) });
    const a = make();
    await a.whenOwner();
    const b = make();
    try {
      await b.whenConnected();
      await b.state.whenSynced();
      const v = await b.state.dispatch({ type: 'addTodo', payload: 'milk' });
      await until(() => a.state.version === v, 2000, 'owner at v');
      assert.deepEqual(a.state.get(), { todos: [{ text: 'milk', done: false }] });
      await until(() => b.state.version === v, 2000, 'follower at v');
      assert.deepEqual(b.state.get(), a.state.get());
      assert.equal(runs, 1, 'the reducer ran once, on the owner');
      await assert.rejects(
        b.state.dispatch({ type: 'fail' }),
        (e) => e instanceof LeaseholdError && e.code === 'EREDUCER' && /refused by the app/.test(e.message),
      );
      await assert.rejects(a.state.dispatch({ type: 'nope' }), (e) => e instanceof LeaseholdError && e.code === 'EREDUCER');
      assert.equal(a.state.version, v, 'refused actions change nothing');
      // The journal holds the resulting batch, not the action: a new owner replays it without reducers.
      await a.close();
      await b.whenOwner();
      assert.deepEqual(b.state.get(), { todos: [{ text: 'milk', done: false }] });
      assert.equal(runs, 1);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await root.remove();
    }
  });
});

describe('SharedState replica', () => {
  const wideDoc = () => {
    const w: Record<string, Json> = {};
    for (let i = 0; i < WIDE_OBJECT_MIN_KEYS + 10; i++) w[`k${i}`] = { n: i };
    return { w, other: { list: [1, 2] } };
  };

  it('shows plain, frozen JSON through get() and at(), keeping the identity of what did not change', () => {
    const s = new SharedState('r');
    replicaOf(s).snapshot(1, wideDoc());
    const v1 = s.get() as { w: Record<string, Json>; other: Json };
    assert.ok(Object.isFrozen(v1) && Object.isFrozen(v1.other) && Object.isFrozen(v1.w.k3));
    assert.ok(replicaOf(s).change(2, { op: 'set', path: 'w.k3.n', value: -3 }, ['a', 1]));
    assert.ok(replicaOf(s).change(3, { op: 'set', path: 'w.new', value: 'last' }, ['a', 2]));
    const v3 = s.get() as typeof v1;
    assert.notEqual(v3, v1);
    assert.equal(v3.other, v1.other, 'an untouched sibling keeps its identity');
    assert.equal(v3.w.k4, v1.w.k4, 'an untouched key of the wide object keeps its identity');
    assert.deepEqual(v3.w.k3, { n: -3 });
    assert.ok(Object.isFrozen(v3) && Object.isFrozen(v3.w) && Object.isFrozen(v3.w.k3));
    assert.equal(Object.keys(v3.w).at(-1), 'new', 'a new key comes last, as in a plain object');
    assert.equal(s.get(), v3, 'the view is built once per version');
    // at(): the same values, without building the whole document's view.
    assert.deepEqual(s.at('w.k3'), { n: -3 });
    assert.equal(s.at('w.k4'), v1.w.k4);
    assert.equal(s.at('w.k3.n'), -3);
    assert.equal(s.at('w.absent'), undefined);
    assert.equal(s.at('other.list.1'), 2);
    assert.equal(s.at(''), s.get());
    assert.throws(
      () => s.at('w..x'),
      (e) => e instanceof LeaseholdError && e.code === 'EPROTOCOL',
    );
    // A follower's document is frozen as the owner's is: writing to it cannot corrupt the replica.
    assert.throws(() => {
      (s.get() as { other: { list: number[] } }).other.list.push(3);
    }, TypeError);
  });

  it('gives listeners the plain document, and builds it for no listener that takes the change alone', () => {
    const s = new SharedState('r');
    replicaOf(s).snapshot(1, wideDoc());
    const seen: Array<[number, Json | undefined]> = [];
    const argCounts: number[] = [];
    s.subscribe((change, state) => seen.push([change.version, state as Json]));
    s.subscribe(function (this: unknown, _change) {
      argCounts.push(arguments[1] === undefined ? 1 : 2);
    });
    replicaOf(s).change(2, { op: 'set', path: 'w.k1', value: 1 }, null);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]![1], s.get());
    assert.equal(Object.getPrototypeOf((seen[0]![1] as { w: object }).w), Object.prototype);
    assert.deepEqual(argCounts, [1]);
  });
});
