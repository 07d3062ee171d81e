import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join as joinPath } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { resolveVersioning, runMigrations, type StateVersioning } from '../../src/state/migrations.js';
import { Journal, parseFrames } from '../../src/state/journal/index.js';
import { OwnerState } from '../../src/state/owner-state.js';
import { compileSchema, type StateCheck } from '../../src/state/schema.js';
import { LeaseholdError } from '../../src/errors.js';
import type { Json } from '../../src/state/document.js';
import { tempRoot } from '../helpers.js';

const isCode = (code: string, field?: string) => (e: unknown) =>
  e instanceof LeaseholdError && e.code === code && (field === undefined || e.field === field);

const ok = () => undefined;

/** Every record of every journal part in `dir`, begin records left out. */
async function entriesOn(dir: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const name of (await readdir(dir)).sort())
    if (name.endsWith('.log'))
      out.push(
        ...parseFrames(await readFile(joinPath(dir, name)))
          .records.map((r) => r.value)
          .filter((r) => r.t === 'm'),
      );
  return out;
}

/** An owner of `epoch` on the journal in `dir`, migrated to `versioning` when given. */
async function open(dir: string, epoch: number, o: { versioning?: StateVersioning; compactEvery?: number; check?: StateCheck } = {}) {
  const { journal, recovered } = await Journal.open({ dir, epoch, guard: ok });
  const owner = new OwnerState(journal, recovered, epoch, {
    guard: ok,
    maxValueBytes: 1 << 20,
    ...(o.compactEvery ? { compactEvery: o.compactEvery } : {}),
    ...(o.check ? { check: o.check } : {}),
  });
  if (o.versioning) await owner.migrate(o.versioning);
  return { journal, owner };
}

/** Runs `fn` with a journal directory of its own, removed afterwards. */
async function inStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const root = await tempRoot();
  try {
    await fn(joinPath(root.dir, 'state'));
  } finally {
    await root.remove();
  }
}

describe('resolveVersioning', () => {
  it('defaults the version to the highest migration, none without migrations, and sorts them', () => {
    assert.deepEqual(resolveVersioning(undefined, undefined), { stateVersion: undefined, migrations: [] });
    const a = () => undefined;
    const b = () => undefined;
    const r = resolveVersioning(undefined, { 3: b, 1: a });
    assert.equal(r.stateVersion, 3);
    assert.deepEqual(
      r.migrations.map(([v]) => v),
      [1, 3],
    );
    assert.equal(resolveVersioning(5, { 2: a }).stateVersion, 5);
    assert.equal(resolveVersioning(0, undefined).stateVersion, 0);
  });

  it('refuses a version that is not a non-negative integer, and migrations above it or not functions', () => {
    for (const bad of [-1, 1.5, '2', NaN]) assert.throws(() => resolveVersioning(bad, undefined), isCode('EINVALIDCONFIG', 'stateVersion'));
    assert.throws(() => resolveVersioning(1, { 2: () => undefined }), isCode('EINVALIDCONFIG', 'migrations'));
    assert.throws(() => resolveVersioning(undefined, { 0: () => undefined }), isCode('EINVALIDCONFIG', 'migrations'));
    assert.throws(() => resolveVersioning(undefined, { x: () => undefined }), isCode('EINVALIDCONFIG', 'migrations'));
    assert.throws(() => resolveVersioning(undefined, { 1: 'no' }), isCode('EINVALIDCONFIG', 'migrations'));
    assert.throws(() => resolveVersioning(undefined, [() => undefined]), isCode('EINVALIDCONFIG', 'migrations'));
  });
});

describe('runMigrations', () => {
  it('runs the migrations above the stored version in order, on a copy, in place or by return value', () => {
    const ran: number[] = [];
    const v = resolveVersioning(undefined, {
      1: () => void ran.push(1),
      2: (s: { n: number; m?: number }) => {
        ran.push(2);
        s.m = s.n * 2; // in place
      },
      3: (s: { n: number; m: number }) => {
        ran.push(3);
        return { total: s.n + s.m }; // by value
      },
    });
    const stored = Object.freeze({ n: 2 }) as Json;
    assert.deepEqual(runMigrations(stored, 1, v), { total: 6 });
    assert.deepEqual(ran, [2, 3], 'only those above the stored version, in order');
    assert.deepEqual(stored, { n: 2 }, 'the stored state is not touched');
  });

  it('EMIGRATION names the version whose migration threw or left something that is not JSON', () => {
    const threw = resolveVersioning(undefined, {
      1: () => undefined,
      2: () => {
        throw new Error('boom');
      },
    });
    assert.throws(
      () => runMigrations({}, 0, threw),
      (e: LeaseholdError) => isCode('EMIGRATION', '2')(e) && /boom/.test(e.message),
    );
    const notJson = resolveVersioning(undefined, { 1: (s: Record<string, unknown>) => void (s.when = new Date()) });
    assert.throws(() => runMigrations({}, 0, notJson), isCode('EMIGRATION', '1'));
    const nan = resolveVersioning(undefined, { 1: () => ({ n: NaN }) });
    assert.throws(() => runMigrations({}, 0, nan), isCode('EMIGRATION', '1'));
  });
});

describe('OwnerState.migrate (on a journal on disk)', () => {
  it('on a new data root records the version in the first entry and runs no migration', async () => {
    await inStateDir(async (dir) => {
      let ran = 0;
      const a = await open(dir, 1, { versioning: resolveVersioning(2, { 1: () => void ran++, 2: () => void ran++ }) });
      assert.equal(a.owner.stateVersion, 2);
      await a.owner.mutate({ op: 'set', path: 'k', value: 1 }, ['A', 1]);
      await a.owner.mutate({ op: 'set', path: 'k', value: 2 }, ['A', 2]);
      await a.journal.close();
      assert.equal(ran, 0, 'no migration on first setup');
      const written = await entriesOn(dir);
      assert.deepEqual(
        written.map((e) => e.s),
        [2, undefined],
        'the first entry says the version; the next ones do not repeat it',
      );
      const b = await open(dir, 2);
      assert.equal(b.owner.stateVersion, 2);
      await b.journal.close();
    });
  });

  it('migrates a stored state once, journaled before it returns; the next owner finds it migrated', async () => {
    await inStateDir(async (dir) => {
      const ran: number[] = [];
      const v2 = resolveVersioning(undefined, {
        1: (s: { dark?: boolean; theme?: string }) => {
          ran.push(1);
          s.theme = s.dark ? 'dark' : 'light';
          delete s.dark;
        },
        2: (s: { theme: string }) => {
          ran.push(2);
          return { prefs: { theme: s.theme } };
        },
      });
      const a = await open(dir, 1); // an app that did not version its state
      await a.owner.mutate({ op: 'set', path: 'dark', value: true }, ['A', 1]);
      await a.journal.close();
      const b = await open(dir, 2, { versioning: v2 });
      assert.deepEqual(ran, [1, 2]);
      assert.deepEqual(b.owner.state, { prefs: { theme: 'dark' } });
      assert.equal(b.owner.version, 2, 'the migration is one change');
      assert.equal(b.owner.stateVersion, 2);
      // The same id as before the migration is still deduplicated: the dedup table is kept.
      assert.equal(await b.owner.mutate({ op: 'set', path: 'dark', value: false }, ['A', 1]), 1);
      await b.journal.close();
      const migration = (await entriesOn(dir)).find((e) => e.v === 2)!;
      assert.equal(migration.s, 2);
      assert.deepEqual(migration.m, { op: 'set', path: '', value: { prefs: { theme: 'dark' } } });
      const c = await open(dir, 3, { versioning: v2 });
      assert.deepEqual(ran, [1, 2], 'not run again by the next owner');
      assert.deepEqual(c.owner.state, { prefs: { theme: 'dark' } });
      assert.equal(c.owner.version, 2);
      await c.journal.close();
    });
  });

  it('a snapshot carries the version: recovery from the snapshot alone knows it', async () => {
    await inStateDir(async (dir) => {
      const a = await open(dir, 1, { versioning: resolveVersioning(4, undefined), compactEvery: 5 });
      for (let i = 1; i <= 12; i++) await a.owner.mutate({ op: 'set', path: `k${i % 3}`, value: i }, ['A', i]);
      await a.journal.close();
      const snapshots = (await readdir(dir)).filter((n) => n.startsWith('snapshot-'));
      assert.ok(snapshots.length > 0, 'a snapshot was written');
      const record = parseFrames(await readFile(joinPath(dir, snapshots.at(-1)!))).records[0]!.value;
      assert.equal(record.sv, 4);
      const b = await open(dir, 2);
      assert.equal(b.owner.stateVersion, 4);
      await b.journal.close();
    });
  });

  it('a failed migration, or a migrated state the schema refuses, is EMIGRATION with nothing applied', async () => {
    await inStateDir(async (dir) => {
      const a = await open(dir, 1, { versioning: resolveVersioning(1, undefined) });
      await a.owner.mutate({ op: 'set', path: 'n', value: 1 }, ['A', 1]);
      await a.journal.close();
      const threw = resolveVersioning(undefined, {
        2: () => {
          throw new Error('no');
        },
      });
      await assert.rejects(open(dir, 2, { versioning: threw }), isCode('EMIGRATION', '2'));
      // A schema that the migrated state fails (checked after migrating, not before).
      const checked = await open(dir, 3, { check: compileSchema({ type: 'object', required: ['count'] }) });
      await assert.rejects(
        checked.owner.migrate(resolveVersioning(undefined, { 2: (s: { n: number }) => ({ total: s.n }) })),
        (e: LeaseholdError) => isCode('EMIGRATION', '2')(e) && /schema/.test(e.message),
      );
      assert.deepEqual(checked.owner.state, { n: 1 });
      assert.equal(checked.owner.stateVersion, 1);
      await checked.journal.close();
      const b = await open(dir, 4);
      assert.deepEqual(b.owner.state, { n: 1 });
      assert.equal(b.owner.version, 1);
      assert.equal(b.owner.stateVersion, 1, 'the stored version is unchanged');
      await b.journal.close();
    });
  });
});
