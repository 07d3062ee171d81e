import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, secretsEqual, newSecret } from '../../src/transport/secret.js';
import { ipcEndpoint, socketPathOf } from '../../src/transport/endpoint.js';

describe('secrets and endpoints', () => {
  it('compares secrets by value, parses only well-formed bearer headers', () => {
    const s = newSecret();
    assert.ok(secretsEqual(s, s));
    assert.ok(!secretsEqual(s, s + 'x'));
    assert.ok(!secretsEqual(s, ''));
    assert.equal(bearer(`Bearer ${s}`), s);
    assert.equal(bearer(`bearer ${s}`), undefined);
    assert.equal(bearer('Bearer a b'), undefined);
    assert.equal(bearer(undefined), undefined);
  });
  it('round-trips ipc endpoints', () => {
    assert.equal(socketPathOf(ipcEndpoint('/tmp/x/a.sock')), '/tmp/x/a.sock');
    assert.equal(socketPathOf('ws://127.0.0.1:1/'), undefined);
  });
});
