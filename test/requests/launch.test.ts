/** The second launch over two instances on one data root: forwarded to the owner, answered, or kept. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from '../../src/instance/instance.js';
import { forwardLaunch, handleLaunches, type Launch } from '../../src/requests/launch.js';
import { tempRoot } from '../helpers.js';

async function two() {
  const root = await tempRoot();
  const first = join({ dataRoot: root.dir, ttlMs: 2000, name: 'first' });
  await first.whenOwner();
  const second = join({ dataRoot: root.dir, ttlMs: 2000, name: 'second' });
  return {
    first,
    second,
    done: async () => {
      await Promise.allSettled([first.close(), second.close()]);
      await root.remove();
    },
  };
}

describe('the second launch', () => {
  it("is forwarded to the owner's launch handler and gets its status and value; the owner's own launch is not", async () => {
    const { first, second, done } = await two();
    try {
      const seen: { launch: Launch; from: string }[] = [];
      handleLaunches(first, (launch, { from }) => {
        seen.push({ launch, from });
        return { status: 3, value: { window: 7 } };
      });
      const argv = ['/usr/bin/app', '--open', ...Array.from({ length: 40 }, (_, i) => `file-${i}.md`)]; // long argv is fine
      const answer = await forwardLaunch(second, { argv, cwd: '/home/u', payload: { deepLink: 'app://x' } });
      assert.deepEqual(answer, { forwarded: true, status: 3, value: { window: 7 } });
      assert.deepEqual(seen, [{ launch: { argv, cwd: '/home/u', payload: { deepLink: 'app://x' } }, from: second.instanceId }]);
      assert.deepEqual(await forwardLaunch(first, { argv, cwd: '/' }), { forwarded: false }, 'the owner is the primary');
      // A number is the status; nothing is 0; something that is no exit status is 1.
      handleLaunches(first, () => 4);
      assert.deepEqual(await forwardLaunch(second, { argv, cwd: '/' }), { forwarded: true, status: 4 });
      handleLaunches(first, () => undefined);
      assert.deepEqual(await forwardLaunch(second, { argv, cwd: '/' }), { forwarded: true, status: 0 });
      handleLaunches(first, () => 300);
      assert.deepEqual(await forwardLaunch(second, { argv, cwd: '/' }), { forwarded: true, status: 1 });
    } finally {
      await done();
    }
  });

  it('is refused with ENOHANDLER by an owner without a launch handler', async () => {
    const { second, done } = await two();
    try {
      await assert.rejects(forwardLaunch(second, { argv: [], cwd: '/' }), (e: { code?: string }) => e.code === 'ENOHANDLER');
    } finally {
      await done();
    }
  });

  it('makes this instance the primary when the owner leaves before answering and it takes over', async () => {
    const { first, second, done } = await two();
    try {
      let asked!: () => void;
      const handling = new Promise<void>((r) => (asked = r));
      handleLaunches(first, () => {
        asked();
        return new Promise<never>(() => undefined); // never answers
      });
      let ranHere = 0;
      handleLaunches(second, () => void ranHere++);
      const forwarding = forwardLaunch(second, { argv: ['app'], cwd: '/' });
      await handling;
      await first.close(); // hands over to the only other instance
      assert.deepEqual(await forwarding, { forwarded: false });
      assert.equal(second.role, 'owner');
      assert.equal(ranHere, 0, 'its own launch did not run its own handler');
    } finally {
      await done();
    }
  });
});
