import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkLeaseLog, rng } from './checker.js';

describe('checkLeaseLog', () => {
  it('accepts a clean handover', () => {
    const ok = [
      { t: 1, pid: 1, ev: 'acquired', epoch: 1 },
      { t: 2, pid: 1, ev: 'act', epoch: 1, at: 2 },
      { t: 3, pid: 2, ev: 'acquired', epoch: 2 },
      { t: 4, pid: 2, ev: 'act', epoch: 2, at: 4 },
    ];
    assert.deepEqual(checkLeaseLog(ok), []);
  });
  it('flags an act after a newer acquisition, a reused epoch and a falling epoch', () => {
    const bad = [
      { t: 1, pid: 1, ev: 'acquired', epoch: 2 },
      { t: 3, pid: 2, ev: 'acquired', epoch: 3 },
      { t: 4, pid: 1, ev: 'act', epoch: 2, at: 4 },
      { t: 5, pid: 3, ev: 'acquired', epoch: 3 },
      { t: 6, pid: 4, ev: 'acquired', epoch: 1 },
    ];
    const v = checkLeaseLog(bad).map((x) => x.what);
    assert.ok(v.some((w) => /acted as holder of epoch 2/.test(w)));
    assert.ok(v.some((w) => /epoch 3 acquired twice/.test(w)));
    assert.ok(v.some((w) => /epoch 1 acquired after epoch 3/.test(w)));
  });
  it('does not blame a holder that logged its acquisition late (stopped in between)', () => {
    const late = [
      { t: 10, pid: 1, ev: 'acquired', epoch: 2 },
      { t: 20, pid: 2, ev: 'acquired', epoch: 1, startedAt: 5 },
    ];
    assert.deepEqual(checkLeaseLog(late), []);
  });
  it('rng is deterministic per seed', () => {
    const a = rng(42);
    const b = rng(42);
    for (let i = 0; i < 5; i++) assert.equal(a(), b());
  });
});
