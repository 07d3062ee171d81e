import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { controlSchemas, decode, negotiate, ProtocolViolation, encode } from '../../src/transport/protocol.js';
import { bearer, secretsEqual, newSecret } from '../../src/transport/secret.js';
import { ipcEndpoint, socketPathOf } from '../../src/transport/endpoint.js';

const hello = { t: 'hello', v: [1], epoch: 3, instanceId: 'abc', name: 'n', pid: 12 };

describe('protocol', () => {
  it('decodes a valid hello and round-trips through encode', () => {
    assert.deepEqual(decode(encode(hello as never), { hello: controlSchemas.hello }), hello);
  });

  const bad: [string, string][] = [
    ['malformed JSON', '{"t":"hello"'],
    ['not an object', '[1,2]'],
    ['null', 'null'],
    ['unknown type', JSON.stringify({ ...hello, t: 'launch' })],
    ['missing field', JSON.stringify({ t: 'hello', v: [1], epoch: 3, instanceId: 'abc', name: 'n' })],
    ['extra field', JSON.stringify({ ...hello, admin: true })],
    ['wrong type', JSON.stringify({ ...hello, epoch: '3' })],
    ['negative epoch', JSON.stringify({ ...hello, epoch: -1 })],
    ['huge id', JSON.stringify({ ...hello, instanceId: 'x'.repeat(1000) })],
    ['prototype key', '{"t":"__proto__"}'],
    ['constructor type', '{"t":"constructor"}'],
    ['an extra field named like an inherited one', JSON.stringify({ ...hello, toString: 1 })],
    ['an extra constructor field', JSON.stringify({ ...hello, constructor: {} })],
    ['an extra __proto__ field', JSON.stringify(hello).replace(/}$/, ',"__proto__":{"admin":true}}')],
  ];
  for (const [name, text] of bad)
    it(`refuses ${name}`, () => assert.throws(() => decode(text, { hello: controlSchemas.hello }), ProtocolViolation));

  it('keeps violation reasons short enough for a close frame', () => {
    for (const [, text] of bad) {
      try {
        decode(text, { hello: controlSchemas.hello });
      } catch (err) {
        assert.ok(Buffer.byteLength((err as Error).message) <= 123);
      }
    }
  });

  it('a welcome (protocol 3) may carry the holder: a lease record, checked field by field', () => {
    const welcome = { t: 'welcome', v: 3, epoch: 4, ownerId: 'o', instances: [], maxPayload: 1024 };
    const holder = {
      format: 1,
      key: 'app/x/owner',
      instanceId: 'o',
      epoch: 4,
      pid: 10,
      processStart: null,
      host: 'h',
      acquiredAt: 1,
      renewedAt: 2,
      renewals: 0,
      ttlMs: 1000,
      renewIntervalMs: 250,
      releasedAt: null,
      pins: [],
      meta: { endpoint: 'ws://127.0.0.1:1/' },
    };
    const schemas = { welcome: controlSchemas.welcome };
    assert.deepEqual(decode(JSON.stringify(welcome), schemas), welcome, 'without a holder (protocol 1 and 2)');
    assert.deepEqual(decode(JSON.stringify({ ...welcome, holder }), schemas), { ...welcome, holder });
    for (const broken of [
      { ...holder, epoch: 0 },
      { ...holder, pins: 'x' },
      { ...holder, meta: [] },
      { ...holder, host: undefined },
      'record',
      null,
    ])
      assert.throws(() => decode(JSON.stringify({ ...welcome, holder: broken }), schemas), ProtocolViolation, JSON.stringify(broken));
  });

  it('negotiates the highest common version', () => {
    assert.equal(negotiate([1]), 1);
    assert.equal(negotiate([1, 2, 7]), 2);
    assert.equal(negotiate([2, 3]), 3);
    assert.equal(negotiate([3, 4]), 4);
    assert.equal(negotiate([4, 5]), 4);
    assert.equal(negotiate([98, 99]), undefined);
    assert.equal(negotiate([]), undefined);
  });
});

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
