/** Shared state across instances in one process (real sockets, real journal, memory lease store). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, type Instance } from '../../src/coordinator.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { LeaseholdError } from '../../src/errors.js';
import { tempRoot, until } from '../helpers.js';
import type { Json } from '../../src/state/document.js';

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
