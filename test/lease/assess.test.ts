import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assess, Observations } from '../../src/lease/assess.js';
import type { LeaseRecord } from '../../src/lease/record.js';
import { FakeClock } from '../../src/clock.js';

const rec = (over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  format: 1,
  key: '/app/x/owner',
  instanceId: 'A',
  epoch: 3,
  pid: 1,
  processStart: null,
  host: 'h',
  acquiredAt: 0,
  renewedAt: 0,
  renewals: 0,
  ttlMs: 1000,
  renewIntervalMs: 300,
  releasedAt: null,
  pins: [],
  meta: {},
  ...over,
});

describe('assess', () => {
  const table: [string, Parameters<typeof assess>[0], ReturnType<typeof assess>][] = [
    [
      'no record',
      { record: undefined, corrupt: false, unchangedForMs: 0, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: true, reason: 'none' },
    ],
    [
      'released',
      { record: rec({ releasedAt: 5 }), corrupt: false, unchangedForMs: 0, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: true, reason: 'released' },
    ],
    [
      'live holder',
      { record: rec(), corrupt: false, unchangedForMs: 999, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: false, reason: 'held' },
    ],
    [
      'unchanged for ttl',
      { record: rec(), corrupt: false, unchangedForMs: 1000, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: true, reason: 'expired' },
    ],
    [
      'holder gone',
      { record: rec(), corrupt: false, unchangedForMs: 0, fallbackTtlMs: 1000, isProcessGone: () => true },
      { free: true, reason: 'holder-gone' },
    ],
    [
      'pinned and gone',
      { record: rec({ pins: ['u'] }), corrupt: false, unchangedForMs: 99_999, fallbackTtlMs: 1000, isProcessGone: () => true },
      { free: false, reason: 'pinned' },
    ],
    [
      'pinned but released',
      { record: rec({ pins: ['u'], releasedAt: 1 }), corrupt: false, unchangedForMs: 0, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: true, reason: 'released' },
    ],
    [
      'corrupt, fresh',
      { record: undefined, corrupt: true, unchangedForMs: 10, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: false, reason: 'corrupt' },
    ],
    [
      'corrupt, stale',
      { record: undefined, corrupt: true, unchangedForMs: 1000, fallbackTtlMs: 1000, isProcessGone: () => false },
      { free: true, reason: 'expired' },
    ],
  ];
  for (const [name, input, want] of table) it(name, () => assert.deepEqual(assess(input), want));
});

describe('Observations', () => {
  it('times how long a fingerprint stays unchanged, resetting on every change', async () => {
    const clock = new FakeClock();
    const obs = new Observations(clock);
    assert.equal(obs.observe('k', rec()), 0);
    await clock.advance(400);
    assert.equal(obs.observe('k', rec()), 400);
    assert.equal(obs.observe('k', rec({ renewals: 1 })), 0);
    await clock.advance(100);
    assert.equal(obs.observe('k', rec({ renewals: 1 })), 100);
    assert.equal(obs.observe('k', undefined, 'garbage'), 0);
  });

  it("tells the same damage seen twice apart by the claim's repair count", async () => {
    const clock = new FakeClock();
    const obs = new Observations(clock);
    const claim = (repairs?: number) => ({ epoch: 3, claim: { instanceId: 'A', ...(repairs === undefined ? {} : { repairs }) } });
    assert.equal(obs.observe('k', undefined, undefined, claim()), 0);
    await clock.advance(300);
    assert.equal(obs.observe('k', undefined, undefined, claim(0)), 300, 'no count and 0 are the same claim');
    // The holder repaired (count 1), then the record was deleted again: not the same as before.
    assert.equal(obs.observe('k', undefined, undefined, claim(1)), 0);
    await clock.advance(300);
    assert.equal(obs.observe('k', undefined, 'trunc', claim(1)), 0);
    await clock.advance(300);
    assert.equal(obs.observe('k', undefined, 'trunc', claim(1)), 300);
    assert.equal(obs.observe('k', undefined, 'trunc', claim(2)), 0);
    assert.equal(obs.observe('k', undefined, 'trunc', { epoch: 4, claim: { instanceId: 'B', repairs: 2 } }), 0, 'a newer epoch');
  });
});
