/** The fake contextBridge behaves as Electron's does (see fake-context-bridge.ts for the sources). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeContextBridge, ipcCopy } from './fake-context-bridge.js';

function expose(api: unknown): Record<string, unknown> {
  const world: Record<string, unknown> = {};
  createFakeContextBridge(world).exposeInMainWorld('api', api);
  return world.api as Record<string, unknown>;
}

describe('the fake contextBridge', () => {
  it('copies values: the other side cannot reach or change the original, and what is exposed is frozen', () => {
    const data = { list: [1, { deep: true }], when: new Date(5), tags: new Set(['a']) };
    const api = expose({ data, echo: (v: unknown) => v });
    const seen = api.data as typeof data;
    assert.notEqual(seen, data);
    assert.deepEqual(seen, data);
    assert.ok(Object.isFrozen(seen) && Object.isFrozen(seen.list), 'exposed values are deep-frozen');
    const arg = { n: 1 };
    const back = (api.echo as (v: unknown) => { n: number })(arg);
    assert.notEqual(back, arg, 'arguments and results are copies');
    assert.deepEqual(back, arg);
  });

  it('drops prototypes: a class instance arrives as a plain object', () => {
    class Point {
      constructor(readonly x: number) {}
      norm() {
        return Math.abs(this.x);
      }
    }
    const api = expose({ make: () => new Point(-3) });
    const p = (api.make as () => Point)();
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.deepEqual({ ...p }, { x: -3 });
    assert.equal((p as { norm?: unknown }).norm, undefined);
  });

  it('rebuilds a thrown Error from its message only', () => {
    const api = expose({
      fail: () => {
        throw Object.assign(new Error('refused'), { code: 'EPROTOCOL' });
      },
      throwString: () => {
        throw 'plain';
      },
    });
    assert.throws(
      () => (api.fail as () => void)(),
      (e: Error & { code?: string }) => e instanceof Error && e.message === 'refused' && e.code === undefined,
    );
    assert.throws(() => (api.throwString as () => void)(), /An unknown exception occurred/);
  });

  it('rebuilds a rejected Error from its message only; a rejection with a plain object is copied', async () => {
    const api = expose({
      reject: async () => {
        throw Object.assign(new Error('too full'), { code: 'EFULL' });
      },
      rejectObject: () => Promise.reject({ code: 'EFULL', message: 'too full' }),
      resolve: async () => ({ ok: false, error: { code: 'EFULL', message: 'too full' } }),
    });
    await assert.rejects((api.reject as () => Promise<void>)(), (e: Error & { code?: string }) => {
      assert.equal(e.message, 'too full');
      assert.equal(e.code, undefined, 'the code is lost');
      return true;
    });
    await assert.rejects((api.rejectObject as () => Promise<void>)(), { code: 'EFULL', message: 'too full' });
    assert.deepEqual(await (api.resolve as () => Promise<unknown>)(), { ok: false, error: { code: 'EFULL', message: 'too full' } });
  });

  it('proxies functions both ways: a callback passed in is callable, and its arguments are copied', () => {
    let stored: ((e: unknown) => void) | undefined;
    const api = expose({ on: (listener: (e: unknown) => void) => void (stored = listener) });
    const got: unknown[] = [];
    const listener = (e: unknown) => got.push(e);
    (api.on as (l: unknown) => void)(listener);
    assert.equal(typeof stored, 'function');
    assert.notEqual(stored, listener, 'the other side holds a proxy');
    const event = { type: 'state', state: { n: 1 } };
    stored!(event);
    assert.deepEqual(got, [event]);
    assert.notEqual(got[0], event);
  });

  it('refuses values the structured clone cannot copy', () => {
    const api = expose({ give: () => new Map([['f', () => 1]]), take: (_v: unknown) => 1 });
    assert.throws(() => (api.give as () => unknown)(), /could not be cloned/);
    assert.throws(() => (api.take as (v: unknown) => unknown)(new WeakMap()), /could not be cloned|DataCloneError/);
  });

  it('will not overwrite a property of the window', () => {
    const world: Record<string, unknown> = { taken: 1 };
    assert.throws(() => createFakeContextBridge(world).exposeInMainWorld('taken', {}), /existing property/);
  });

  it('ipcCopy refuses functions, as ipcRenderer.invoke does', () => {
    assert.deepEqual(ipcCopy({ a: [1] }), { a: [1] });
    assert.throws(() => ipcCopy({ f: () => 1 }), /could not be cloned/);
  });
});
