/** The owner's side on its own: a registered handler's result or failure as the reply that travels. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Handlers } from '../../src/requests/handlers.js';

const context = { id: 'A:1', from: 'A' };

describe('Handlers', () => {
  it('replies with the value, or a code and a message, and never rejects', async () => {
    const h = new Handlers(64);
    const off = h.register('echo', (payload, ctx) => ({ payload: payload ?? null, id: ctx.id }));
    h.register('nothing', () => undefined);
    h.register('app-code', () => {
      throw Object.assign(new Error('not now'), { code: 'E_APP_BUSY' });
    });
    h.register('plain-throw', async () => {
      throw new Error('oops');
    });
    h.register('lower-case-code', () => {
      throw Object.assign(new Error('odd'), { code: 'enoent' }); // not an app code of ours: EHANDLER
    });
    h.register('not-json', () => ({ n: Number.NaN }) as never);
    h.register('too-big', () => 'x'.repeat(100));
    assert.deepEqual(await h.run('echo', [1], context), { value: { payload: [1], id: 'A:1' } });
    assert.deepEqual(await h.run('nothing', null, context), {});
    assert.deepEqual(await h.run('app-code', null, context), { code: 'E_APP_BUSY', message: 'not now' });
    assert.deepEqual(await h.run('plain-throw', null, context), { code: 'EHANDLER', message: 'oops' });
    assert.deepEqual(await h.run('lower-case-code', null, context), { code: 'EHANDLER', message: 'odd' });
    const notJson = await h.run('not-json', null, context);
    assert.ok('code' in notJson && notJson.code === 'EHANDLER' && /finite/.test(notJson.message), JSON.stringify(notJson));
    const big = await h.run('too-big', null, context);
    assert.ok('code' in big && big.code === 'EHANDLER' && /limit/.test(big.message), JSON.stringify(big));
    const none = await h.run('absent', null, context);
    assert.ok('code' in none && none.code === 'ENOHANDLER');
    off();
    assert.ok('code' in (await h.run('echo', null, context)));
    // Unregistering an old registration leaves a newer one in place.
    const first = h.register('x', () => 1);
    h.register('x', () => 2);
    first();
    assert.deepEqual(await h.run('x', null, context), { value: 2 });
  });
});
