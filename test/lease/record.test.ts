import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClaim, serializeClaim } from '../../src/lease/record.js';

describe('epoch claims', () => {
  it('round-trips a claim with its repair count', () => {
    const claim = { instanceId: 'A', process: { pid: 7, processStart: 's', host: 'h' }, ttlMs: 500, repairs: 3 };
    assert.deepEqual(parseClaim(serializeClaim(claim)), claim);
  });

  it('drops a repair count that is not a non-negative integer, keeping the claimer', () => {
    for (const repairs of [-1, 1.5, '2', null])
      assert.deepEqual(parseClaim(JSON.stringify({ instanceId: 'A', ttlMs: 500, repairs })), { instanceId: 'A', ttlMs: 500 });
  });

  it('reads older claims: a bare instance id, or JSON without a process', () => {
    assert.deepEqual(parseClaim('A'), { instanceId: 'A' });
    assert.deepEqual(parseClaim('{"instanceId":"A","process":{"pid":"x"}}'), { instanceId: 'A' });
    assert.equal(parseClaim(''), undefined);
    assert.equal(parseClaim('{"instanceId":'), undefined);
  });
});
