/**
 * RendererBridge's per-window values (`watch`), and the page's `watch()` over it (connectLeasehold with a
 * stand-in for the preload's bridge): a window is sent only the paths it watches, when they change.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from '../../src/instance/instance.js';
import { FakeClock } from '../../src/clock.js';
import { MAX_WATCHED_PATHS, RendererBridge } from '../../src/electron/bridge.js';
import { connectLeasehold, type BridgeEvent, type BridgeReply, type LeaseholdBridge } from '../../src/electron/renderer-api.js';
import { tempRoot, until } from '../helpers.js';

async function owner() {
  const root = await tempRoot();
  const instance = join({ dataRoot: root.dir, ttlMs: 2000 });
  await instance.whenOwner();
  await instance.state.set('a', { x: 1 });
  await instance.state.set('b', 1);
  return {
    instance,
    close: async () => {
      await instance.close();
      await root.remove();
    },
  };
}

const values = (sent: BridgeEvent[]) => sent.filter((e) => e.type === 'values');

describe('RendererBridge: watched paths', () => {
  it('answers watch with the current values, then sends each window only its paths that changed, coalesced', async () => {
    const o = await owner();
    const clock = new FakeClock();
    const bridge = new RendererBridge(o.instance, { clock, coalesceMs: 16 });
    try {
      const one: BridgeEvent[] = [];
      const two: BridgeEvent[] = [];
      const w1 = bridge.connect((e) => one.push(e));
      const w2 = bridge.connect((e) => two.push(e));
      assert.equal(one[0]?.type, 'status', 'the status first');
      assert.deepEqual(await w1.handle({ op: 'watch', paths: ['a.x', 'missing', 'a.x'] }), {
        ok: true,
        value: { version: 2, values: { 'a.x': 1, missing: undefined } },
      });
      assert.deepEqual(await w2.handle({ op: 'watch', paths: [''] }), {
        ok: true,
        value: { version: 2, values: { '': { a: { x: 1 }, b: 1 } } },
      });

      await o.instance.state.set('b', 2); // not watched by the first window
      await clock.advance(16);
      assert.deepEqual(values(one), [], 'nothing of b crosses to a window that does not watch it');
      assert.deepEqual(values(two), [{ type: 'values', version: 3, values: { '': { a: { x: 1 }, b: 2 } } }]);

      await o.instance.state.set('a.x', 2);
      await o.instance.state.set('a.x', 3);
      await clock.advance(16);
      assert.deepEqual(values(one), [{ type: 'values', version: 5, values: { 'a.x': 3 } }], 'two changes, one event, the newest');

      // A new set replaces the old one.
      await w1.handle({ op: 'watch', paths: ['b'] });
      await o.instance.state.set('a.x', 4);
      await clock.advance(16);
      assert.equal(values(one).length, 1, 'a.x is no longer watched');
      await o.instance.state.delete('b');
      await clock.advance(16);
      assert.deepEqual(values(one).at(-1), { type: 'values', version: 7, values: { b: undefined } });

      w2.close();
      const before = two.length;
      await o.instance.state.set('c', 1);
      await clock.advance(16);
      assert.equal(two.length, before, 'a closed connection gets nothing');
    } finally {
      bridge.close();
      await o.close();
    }
  });

  it('refuses a watch without a window, with a bad path, or with too many paths', async () => {
    const o = await owner();
    const bridge = new RendererBridge(o.instance);
    try {
      const w = bridge.connect(() => undefined);
      for (const [what, reply] of [
        ['no window', await bridge.handle({ op: 'watch', paths: ['a'] })],
        ['a forbidden key', await w.handle({ op: 'watch', paths: ['constructor.x'] })],
        ['not a string', await w.handle({ op: 'watch', paths: [1] })],
        ['not an array', await w.handle({ op: 'watch', paths: 'a' })],
        ['too many', await w.handle({ op: 'watch', paths: Array.from({ length: MAX_WATCHED_PATHS + 1 }, (_, i) => `p${i}`) })],
        ['an extra field', await w.handle({ op: 'watch', paths: [], extra: 1 })],
      ] as const)
        assert.equal(!reply.ok && reply.error.code, 'EPROTOCOL', what);
    } finally {
      bridge.close();
      await o.close();
    }
  });
});

describe('connectLeasehold().watch', () => {
  /** The preload's bridge, in process: requests to one connection, events back through onEvent. */
  function pageOver(bridge: RendererBridge) {
    const pageListeners = new Set<(e: BridgeEvent) => void>();
    const requests: unknown[] = [];
    const conn = bridge.connect((e) => {
      for (const l of pageListeners) l(structuredClone(e));
    });
    const preload: LeaseholdBridge = {
      invoke: async (request) => {
        requests.push(request);
        return structuredClone(await conn.handle(request)) as BridgeReply;
      },
      onEvent: (l) => {
        pageListeners.add(l);
        return () => pageListeners.delete(l);
      },
    };
    return { api: connectLeasehold<{ a?: { x: number }; b?: number }>(preload), requests };
  }

  it('calls each listener with the value now and after each change; unwatching sends the smaller set', async () => {
    const o = await owner();
    const bridge = new RendererBridge(o.instance, { coalesceMs: 1 });
    try {
      const { api, requests } = pageOver(bridge);
      const seen: [string, unknown, number][] = [];
      const stopX = api.watch('a.x', (v, version) => seen.push(['a.x', v, version]));
      await until(() => seen.length === 1);
      assert.deepEqual(seen, [['a.x', 1, 2]]);
      const stopRoot = api.watch('', (state, version) => seen.push(['', state.b, version]));
      const again = api.watch('a.x', (v, version) => seen.push(['again', v, version]));
      await until(() => seen.length === 3);
      assert.deepEqual(seen.slice(1).sort(), [
        ['', 1, 2],
        ['again', 1, 2],
      ]);

      await o.instance.state.set('a.x', 5);
      await until(() => seen.length === 6);
      assert.deepEqual(seen.slice(3).sort(), [
        ['', 1, 3],
        ['a.x', 5, 3],
        ['again', 5, 3],
      ]);

      stopX();
      again();
      await until(() => requests.length === 3);
      assert.deepEqual(requests.at(-1), { op: 'watch', paths: [''] }, 'a.x is no longer watched');
      stopRoot();
      await until(() => requests.length === 4);
      assert.deepEqual(requests.at(-1), { op: 'watch', paths: [] });
      const count = seen.length;
      await o.instance.state.set('a.x', 6);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(seen.length, count, 'no listener is called after it stopped');
    } finally {
      bridge.close();
      await o.close();
    }
  });

  it('never goes back to an older version when a reply and an event cross', async () => {
    const events = new Set<(e: BridgeEvent) => void>();
    let answer: (r: BridgeReply) => void = () => undefined;
    const preload: LeaseholdBridge = {
      invoke: () => new Promise((r) => (answer = r)),
      onEvent: (l) => {
        events.add(l);
        return () => events.delete(l);
      },
    };
    const api = connectLeasehold(preload);
    const seen: unknown[] = [];
    api.watch('n', (v, version) => seen.push([v, version]));
    // The event of version 4 arrives before the reply of version 3 to the watch.
    for (const l of events) l({ type: 'values', version: 4, values: { n: 4 } });
    answer({ ok: true, value: { version: 3, values: { n: 3 } } });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [[4, 4]]);
  });
});
