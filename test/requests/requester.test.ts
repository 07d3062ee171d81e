/** The requesting side on its own: routes come and go, replies arrive once, timeouts, aborts and close. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Requester, RequestError, type RequestRoute } from '../../src/requests/requester.js';
import { systemClock, type Clock } from '../../src/clock.js';
import type { Json } from '../../src/state/json.js';
import { isLeaseholdError } from '../../src/errors.js';

/** A route that records what it was asked to send. */
function route(): RequestRoute & { sent: { id: number; name: string; payload: Json | undefined }[] } {
  const sent: { id: number; name: string; payload: Json | undefined }[] = [];
  return { sent, send: (id, name, payload) => void sent.push({ id, name, payload }) };
}

/** systemClock with timers that keep the test's process alive while it waits for them. */
const clock: Clock = {
  now: () => systemClock.now(),
  wallNow: () => systemClock.wallNow(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code,
  );

describe('Requester', () => {
  it('waits for a route, sends in order, and sends again only to a new route', async () => {
    const r = new Requester(clock, 1024);
    const a = r.request('first', { n: 1 });
    const b = r.request('second', undefined);
    const one = route();
    r.setRoute(one);
    assert.deepEqual(
      one.sent.map((s) => [s.id, s.name, s.payload]),
      [
        [1, 'first', { n: 1 }],
        [2, 'second', undefined],
      ],
    );
    r.setRoute(one); // the same owner again: nothing is sent twice
    assert.equal(one.sent.length, 2);
    r.onReply(1, { value: 'one' });
    assert.equal(await a, 'one');
    // The owner failed before replying to 2: the next one gets 2 (and not 1), with the same id.
    r.leave(one);
    const c = r.request('third', 3); // no route now: waits
    const two = route();
    r.setRoute(two);
    assert.deepEqual(
      two.sent.map((s) => s.id),
      [2, 3],
    );
    r.onReply(2, {});
    r.onReply(2, { value: 'late repeat' }); // ignored
    assert.equal(await b, undefined);
    r.onReply(3, { code: 'ENOHANDLER', message: 'none' });
    assert.equal(await codeOf(c), 'ENOHANDLER');
    assert.equal(r.pendingCount, 0);
  });

  it("rejects with the handler's own code as a RequestError, and with EHANDLER as a LeaseholdError", async () => {
    const r = new Requester(clock, 1024);
    r.setRoute(route());
    const a = r.request('x', null);
    const b = r.request('y', null);
    r.onReply(1, { code: 'E_APP_BUSY', message: 'busy' });
    r.onReply(2, { code: 'EHANDLER', message: 'threw' });
    await assert.rejects(a, (e: unknown) => e instanceof RequestError && e.code === 'E_APP_BUSY' && e.message === 'busy');
    await assert.rejects(b, (e: unknown) => isLeaseholdError(e, 'EHANDLER'));
  });

  it('times out, aborts, refuses bad names and payloads at once, and rejects everything on close', async () => {
    const r = new Requester(clock, 64);
    const timedOut = r.request('slow', null, { timeoutMs: 20 });
    assert.equal(await codeOf(timedOut), 'ETIMEOUT');
    const ac = new AbortController();
    const aborted = r.request('slow', null, { signal: ac.signal });
    ac.abort();
    assert.equal(await codeOf(aborted), 'EABORTED');
    assert.equal(await codeOf(r.request('slow', null, { signal: AbortSignal.abort() })), 'EABORTED');
    assert.equal(await codeOf(r.request('', null)), 'EPROTOCOL');
    assert.equal(await codeOf(r.request('x'.repeat(129), null)), 'EPROTOCOL');
    assert.equal(await codeOf(r.request('big', 'x'.repeat(100))), 'EPROTOCOL');
    assert.equal(await codeOf(r.request('nan', Number.NaN)), 'EPROTOCOL');
    assert.equal(r.pendingCount, 0, 'nothing left behind by those');
    // The payload is copied: changing it afterwards changes nothing sent later.
    const payload = { n: 1 };
    const kept = r.request('kept', payload);
    payload.n = 2;
    const later = route();
    r.setRoute(later);
    assert.deepEqual(later.sent[0]!.payload, { n: 1 });
    const open = r.request('open', null);
    r.close();
    assert.equal(await codeOf(kept), 'ECLOSED');
    assert.equal(await codeOf(open), 'ECLOSED');
    assert.equal(await codeOf(r.request('after', null)), 'ECLOSED');
  });
});
