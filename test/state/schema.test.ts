import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileSchema } from '../../src/state/schema.js';
import { OwnerState } from '../../src/state/owner-state.js';
import { join, type Instance } from '../../src/instance/instance.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { LeaseholdError } from '../../src/errors.js';
import type { Journal } from '../../src/state/journal/index.js';
import { tempRoot, until } from '../helpers.js';

const isCode = (code: string, field?: string) => (e: unknown) =>
  e instanceof LeaseholdError && e.code === code && (field === undefined || e.field === field);

interface Prefs {
  theme?: 'light' | 'dark';
  zoom?: number;
  todos?: { text: string; done: boolean }[];
}
const schema = {
  type: 'object',
  properties: {
    theme: { enum: ['light', 'dark'] },
    zoom: { type: 'number', minimum: 0.5 },
    todos: {
      type: 'array',
      items: { type: 'object', required: ['text', 'done'], properties: { text: { type: 'string' }, done: { type: 'boolean' } } },
    },
  },
};

describe('compileSchema (ajv)', () => {
  it('passes a valid state and refuses an invalid one with ESCHEMA naming the dotted path', () => {
    const check = compileSchema(schema);
    check({ theme: 'dark', todos: [{ text: 'a', done: false }] });
    assert.throws(() => check({ todos: [{ text: 'a', done: 'no' }] }), isCode('ESCHEMA', 'todos.0.done'));
    assert.throws(
      () => check({ theme: 'blue' }),
      (e: LeaseholdError) => isCode('ESCHEMA', 'theme')(e) && /"theme"/.test(e.message),
    );
  });

  it('refuses what is not a schema with EINVALIDCONFIG naming the option', () => {
    assert.throws(() => compileSchema({ type: 'no-such-type' }), isCode('EINVALIDCONFIG', 'schema'));
    assert.throws(() => compileSchema([] as unknown as object), isCode('EINVALIDCONFIG', 'schema'));
  });

  it('on the owner: a mutation whose result fails is refused and changes nothing', async () => {
    const journal = { written: 0, append: async () => undefined, compact: async () => undefined } as unknown as Journal;
    const owner = new OwnerState(journal, { snapshot: undefined, entries: [] }, 1, {
      guard: () => undefined,
      maxValueBytes: 1024,
      check: compileSchema(schema),
    });
    assert.equal(await owner.mutate({ op: 'set', path: 'zoom', value: 1 }, ['F', 1]), 1);
    await assert.rejects(owner.mutate({ op: 'set', path: 'zoom', value: 0.1 }, ['F', 2]), isCode('ESCHEMA', 'zoom'));
    await assert.rejects(
      owner.mutate(
        {
          op: 'batch',
          ops: [
            { op: 'set', path: 'theme', value: 'dark' },
            { op: 'push', path: 'todos', value: 3 },
          ],
        },
        ['F', 3],
      ),
      isCode('ESCHEMA', 'todos.0'),
    );
    assert.equal(owner.version, 1);
    assert.deepEqual(owner.state, { zoom: 1 }, 'neither the refused value nor the rest of its batch');
  });
});

describe('join({ defaults, schema })', () => {
  it('the owner sets absent defaults once, each new owner adds the keys it knows, and the schema holds for every sender', async () => {
    const root = await tempRoot();
    const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
    const start = (name: string, defaults: Prefs) =>
      join<Prefs>({
        dataRoot: root.dir,
        ttlMs: 1000,
        name,
        store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }),
        defaults,
        schema,
      });
    const all: Instance<Prefs>[] = [];
    try {
      const a = start('a', { theme: 'light', todos: [] });
      all.push(a);
      await a.whenOwner();
      await until(() => a.state.version === 1, 2000, 'the defaults, one batch');
      assert.deepEqual(a.state.get(), { theme: 'light', todos: [] });
      // A newer version of the app knows one more key.
      const b = start('b', { theme: 'light', todos: [], zoom: 1 });
      all.push(b);
      await b.whenConnected();
      await b.state.whenSynced();
      await b.state.set('theme', 'dark');
      // Across the wire an error is its code and message: the message names the path.
      const named = (path: string) => (e: unknown) => isCode('ESCHEMA')(e) && (e as Error).message.includes(`"${path}"`);
      await assert.rejects(b.state.set('zoom', 0.1), named('zoom'), 'a follower is refused by the owner’s schema');
      await assert.rejects((b as unknown as Instance).state.push('todos', { text: 1 }), named('todos.0'));
      assert.deepEqual(b.state.get(), { theme: 'dark', todos: [] });
      await a.close(); // b takes over and adds zoom; theme keeps the value set
      await b.whenOwner();
      await until(() => b.state.get().zoom === 1, 2000, 'the new owner’s default');
      assert.deepEqual(b.state.get(), { theme: 'dark', todos: [], zoom: 1 });
    } finally {
      await Promise.all(all.map((i) => i.close()));
      await root.remove();
    }
  });

  it('refuses defaults that are not an object of plain JSON under one-segment keys', () => {
    const bad = [[1], { 'a.b': 1 }, { a: () => 1 }, null];
    for (const defaults of bad)
      assert.throws(
        () => join({ dataRoot: '/tmp/x', defaults: defaults as never }),
        isCode('EINVALIDCONFIG', 'defaults'),
        JSON.stringify(defaults),
      );
  });
});
