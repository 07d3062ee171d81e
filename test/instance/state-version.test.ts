/**
 * join({ stateVersion, migrations }) between instances: a stored or served state newer than an instance's
 * code stops that instance (EOUTDATED) without touching the state or contending again; a migration that
 * fails stops its instance (EMIGRATION) and leaves the state for a fixed build.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { join, type Instance } from '../../src/instance/instance.js';
import type { JoinOptions } from '../../src/config.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { LeaseholdError } from '../../src/errors.js';
import type { Json } from '../../src/state/document.js';
import { delay, tempRoot, until } from '../helpers.js';

const isCode = (code: string, field?: string) => (e: unknown) =>
  e instanceof LeaseholdError && e.code === code && (field === undefined || e.field === field);

/** A digest of every file under `dir` (names, sizes and bytes). */
async function digest(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = joinPath(d, e.name);
      h.update(p);
      if (e.isDirectory()) await walk(p);
      else h.update(await readFile(p));
    }
  };
  await walk(dir);
  return h.digest('hex');
}

async function cluster(fn: (start: (name: string, o?: Partial<JoinOptions>) => Instance, root: string) => Promise<void>) {
  const root = await tempRoot();
  const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
  const all: Instance[] = [];
  const start = (name: string, o: Partial<JoinOptions> = {}) => {
    const i = join({ dataRoot: root.dir, ttlMs: 1000, name, store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }), ...o });
    all.push(i);
    return i;
  };
  try {
    await fn(start, root.dir);
  } finally {
    await Promise.all(all.map((i) => i.close()));
    await root.remove();
  }
}

/** Resolves with the instance's failure once its role is `failed`. */
const failed = (i: Instance) => until(() => (i.role === 'failed' ? i.failure : undefined), 5000, `${i.name} failed`);

describe('join({ stateVersion, migrations })', () => {
  it('an instance whose code is older than the stored state stops (EOUTDATED), touches nothing and claims one epoch', async () => {
    await cluster(async (start, root) => {
      const a = start('a', { stateVersion: 2 });
      await a.whenOwner();
      await a.state.set('theme', 'dark');
      await a.close();
      const before = await digest(joinPath(root, 'state'));
      const old = start('old', { stateVersion: 1 });
      const events: string[] = [];
      old.on('role-change', (e) => events.push(e.role));
      const error = await failed(old);
      assert.ok(isCode('EOUTDATED', 'stateVersion')(error), String(error));
      assert.match(error!.message, /state version 2, newer than this app's 1: restart the app/);
      await assert.rejects(old.whenOwner(), isCode('EOUTDATED'));
      await assert.rejects(old.state.set('theme', 'light'), isCode('EOUTDATED'), 'its mutations are refused with the reason');
      await delay(300); // time to contend again, if it did
      assert.deepEqual(events, ['failed']);
      assert.equal(await digest(joinPath(root, 'state')), before, 'not a byte of the state directory changed');
      // It released: an up-to-date instance owns at the next epoch (the outdated one claimed one, once).
      const b = start('b', { stateVersion: 2 });
      await b.whenOwner();
      assert.equal(b.epoch, old.epoch + 1);
      assert.deepEqual(b.state.get(), { theme: 'dark' });
    });
  });

  it('a follower whose code is older than the owner’s state stops (EOUTDATED); one that names no version follows', async () => {
    await cluster(async (start) => {
      const a = start('a', { stateVersion: 3 });
      await a.whenOwner();
      await a.state.set('n', 1);
      const old = start('old', { stateVersion: 2 });
      const error = await failed(old);
      assert.ok(isCode('EOUTDATED', 'stateVersion')(error), String(error));
      const tool = start('tool'); // a generic tool (the CLI): any version
      await tool.whenConnected();
      await tool.state.whenSynced();
      assert.deepEqual(tool.state.get(), { n: 1 });
      await delay(200);
      assert.equal(old.role, 'failed', 'it stays stopped until closed');
    });
  });

  it('migrations that outlast the lease stop their instance (EMIGRATION naming ttlMs) after one epoch, not in a loop', async () => {
    await cluster(async (start) => {
      const a = start('a', { stateVersion: 1 });
      await a.whenOwner();
      await a.state.set('n', 1);
      await a.close();
      let runs = 0;
      const slow = start('slow', {
        migrations: {
          2: (s: { n: number }) => {
            runs++;
            const until = Date.now() + 1300; // the loop is blocked past the 1000 ms ttl
            while (Date.now() < until);
            return { total: s.n };
          },
        },
      });
      const error = await failed(slow);
      assert.ok(isCode('EMIGRATION', '2')(error) && /ttlMs/.test(error!.message), String(error));
      await delay(300);
      assert.equal(runs, 1, 'run once: a lease lost to it is not claimed again and again');
      const b = start('b', { stateVersion: 1 });
      await b.whenOwner();
      assert.deepEqual(b.state.get() as Json, { n: 1 }, 'nothing was written');
      assert.equal(b.epoch, slow.epoch + 1);
    });
  });

  it('newer code joining an older state: its writes wait for the owner to step down to it, and land after its migration', async () => {
    await cluster(async (start) => {
      const a = start('a', { stateVersion: 1, appVersion: '1.0.0' });
      await a.whenOwner();
      await a.state.set('dark', true);
      const b = start('b', {
        appVersion: '1.0.0', // the same app version: the state version alone makes b the newer code
        migrations: {
          2: (s: { dark?: boolean; theme?: string }) => {
            s.theme = s.dark ? 'dark' : 'light';
            delete s.dark;
          },
        },
      });
      await b.whenConnected();
      // Written in the new shape at once. Sent to the old owner, the migration would then overwrite it.
      const written = b.state.set('theme' as never, 'light' as never);
      await b.whenOwner();
      await written;
      assert.deepEqual(b.state.get() as Json, { theme: 'light' });
      const error = await failed(a); // stepped down, then cannot follow the migrated state
      assert.ok(isCode('EOUTDATED', 'stateVersion')(error), String(error));
    });
  });

  it('a migration that throws stops its instance (EMIGRATION); a fixed build then migrates the same state', async () => {
    await cluster(async (start) => {
      const a = start('a', { stateVersion: 1 });
      await a.whenOwner();
      await a.state.set('dark', true);
      await a.close();
      const broken = start('broken', {
        migrations: {
          2: () => {
            throw new Error('not yet');
          },
        },
      });
      const error = await failed(broken);
      assert.ok(isCode('EMIGRATION', '2')(error), String(error));
      const fixed = start('fixed', {
        migrations: { 2: (s: { dark: boolean }) => ({ theme: s.dark ? 'dark' : 'light' }) },
      });
      await fixed.whenOwner();
      await until(() => (fixed.state.get() as { theme?: string }).theme, 2000, 'the migrated state');
      assert.deepEqual(fixed.state.get() as Json, { theme: 'dark' });
      // A follower joining afterwards gets the migrated state.
      const f = start('f', { stateVersion: 2 });
      await f.whenConnected();
      await f.state.whenSynced();
      assert.deepEqual(f.state.get() as Json, { theme: 'dark' });
    });
  });
});
