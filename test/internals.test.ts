/**
 * The public surface stops at what applications call: the role's resources and the replica's internal
 * side are reached through src/internals.ts only, which no entry point of the package exports.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as publicApi from '../src/index.js';
import { join, type Instance } from '../src/index.js';
import { internals } from '../src/internals.js';
import { MemoryLeaseStore } from '../src/lease/memory-store.js';
import { tempRoot, until } from './helpers.js';

/** Never run: compiled by tsc, which fails the build if any of these lines compiles. */
export function notPublic(i: Instance): void {
  // @ts-expect-error the replica is driven by the instance only
  i.state.adopt(0, {});
  // @ts-expect-error
  i.state.snapshot(0, {});
  // @ts-expect-error
  i.state.change(1, { op: 'set', path: 'a', value: 1 }, null);
  // @ts-expect-error
  i.state.ack(1, 1);
  // @ts-expect-error
  i.state.setRoute(undefined);
  // @ts-expect-error
  void i.state.lastId;
  // @ts-expect-error the role's resources are internals
  void i.server;
  // @ts-expect-error
  void i.link;
  // @ts-expect-error
  void i.lease;
}

describe('internals', () => {
  it('are neither on the instance nor exported by any entry point', () => {
    for (const name of ['internals', 'replicaOf', 'termsOf', 'OwnerServer', 'FollowerLink']) assert.ok(!(name in publicApi), name);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown> };
    assert.ok(!Object.keys(pkg.exports).some((k) => k.includes('internal')), 'no entry point for internals');
  });

  it('give tests the owner’s server and lease, the follower’s link and the replica', async () => {
    const root = await tempRoot();
    const store = new MemoryLeaseStore();
    const a = join({ dataRoot: root.dir, store, ttlMs: 1000 });
    const b = join({ dataRoot: root.dir, store, ttlMs: 1000 });
    try {
      await a.whenOwner();
      await b.whenConnected();
      await b.state.whenSynced(); // then the change comes as a change, with its id (not in a snapshot)
      for (const [name, i] of [
        ['a', a],
        ['b', b],
      ] as const) {
        assert.equal('server' in i || 'link' in i || 'lease' in i, false, `${name} has no public resources`);
        for (const m of ['adopt', 'snapshot', 'change', 'ack', 'nack', 'setRoute', 'caughtUp', 'refuse'])
          assert.equal((i.state as unknown as Record<string, unknown>)[m], undefined, m);
      }
      const owner = internals(a);
      assert.equal(owner.server?.state, 'serving');
      assert.equal(owner.lease?.epoch, a.epoch);
      assert.equal(owner.link, undefined);
      const follower = internals(b);
      assert.equal(follower.server, undefined);
      assert.equal(follower.lease, undefined);
      assert.equal(follower.link?.epoch, a.epoch);
      await a.state.set('x', 1);
      await until(() => internals(b).replica.version === a.state.version, 2000, 'replicated');
      assert.deepEqual(internals(b).replica.lastId, [a.instanceId, 1]);
    } finally {
      await b.close();
      await a.close();
      await root.remove();
    }
  });
});
