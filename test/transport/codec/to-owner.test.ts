import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decode,
  encode,
  MAX_MUTATES,
  mutateFrame,
  mutateItem,
  mutatesFrame,
  type MutateItem,
  type ToOwner,
} from '../../../src/transport/codec/to-owner.js';
import { PROTOCOL_VERSION } from '../../../src/transport/protocol.js';
import * as arb from './arbitraries.js';

const { seed, numRuns } = arb;
const hello = { t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 3, instanceId: 'abc', name: 'n', pid: 12 };
const reason = (raw: string | Uint8Array) => arb.refusal(decode, raw);

describe('codec: follower → owner', () => {
  arb.codecProperties(arb.toOwner, decode, encode);

  it('the fast paths give what encode gives (property)', () => {
    const expected = (epoch: number, i: MutateItem): ToOwner => ({ t: 'mutate', epoch, ...i });
    const item = (i: MutateItem) => mutateItem(i.seq, i.m, i.durable !== false);
    fc.assert(
      fc.property(fc.integer({ min: 1 }), arb.mutateItem, fc.array(arb.mutateItem, { maxLength: 8 }), (epoch, one, items) => {
        const single = mutateFrame(epoch, item(one));
        assert.deepStrictEqual(JSON.parse(single), JSON.parse(encode(expected(epoch, one))));
        assert.deepStrictEqual(decode(single), expected(epoch, one));
        const many = mutatesFrame(epoch, items.map(item));
        assert.deepStrictEqual(JSON.parse(many), JSON.parse(encode({ t: 'mutates', epoch, items })));
        assert.deepStrictEqual(decode(many), { t: 'mutates', epoch, items });
      }),
      { seed, numRuns },
    );
  });

  const bad: [string, string][] = [
    ['malformed JSON', '{"t":"hello"'],
    ['not an object', '[1,2]'],
    ['null', 'null'],
    ['unknown type', JSON.stringify({ ...hello, t: 'launch' })],
    ['a type only the owner sends', JSON.stringify({ t: 'welcome', v: 1, epoch: 1, ownerId: 'o', instances: [], maxPayload: 1 })],
    ['missing field', JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 3, instanceId: 'abc', name: 'n' })],
    ['extra field', JSON.stringify({ ...hello, admin: true })],
    ['wrong type', JSON.stringify({ ...hello, epoch: '3' })],
    ['a list of versions', JSON.stringify({ ...hello, v: [PROTOCOL_VERSION] })],
    ['negative epoch', JSON.stringify({ ...hello, epoch: -1 })],
    ['huge id', JSON.stringify({ ...hello, instanceId: 'x'.repeat(1000) })],
    ['prototype key', '{"t":"__proto__"}'],
    ['constructor type', '{"t":"constructor"}'],
    ['an extra field named like an inherited one', JSON.stringify({ ...hello, toString: 1 })],
    ['an extra constructor field', JSON.stringify({ ...hello, constructor: {} })],
    ['an extra __proto__ field', JSON.stringify(hello).replace(/}$/, ',"__proto__":{"admin":true}}')],
    ['epoch 0 after hello', JSON.stringify({ t: 'sync', epoch: 0, since: 0 })],
    ['a durable:true item', JSON.stringify({ t: 'mutate', epoch: 1, seq: 1, m: {}, durable: true })],
    ['seq 0', JSON.stringify({ t: 'mutates', epoch: 1, items: [{ seq: 0, m: {} }] })],
    ['a sync at a malformed id', JSON.stringify({ t: 'sync', epoch: 1, since: 0, at: ['a'] })],
    [
      'more than MAX_MUTATES items',
      JSON.stringify({ t: 'mutates', epoch: 1, items: Array.from({ length: MAX_MUTATES + 1 }, (_, i) => ({ seq: i + 1, m: 1 })) }),
    ],
    ['a request without a name', JSON.stringify({ t: 'request', epoch: 1, id: 1, name: '' })],
    ['a request with a long name', JSON.stringify({ t: 'request', epoch: 1, id: 1, name: 'x'.repeat(129) })],
    ['request 0', JSON.stringify({ t: 'request', epoch: 1, id: 0, name: 'x' })],
    ['a request before any epoch', JSON.stringify({ t: 'request', epoch: 0, id: 1, name: 'x' })],
    ['nesting deeper than any stack', `{"t":"mutate","epoch":1,"seq":1,"m":${'['.repeat(200_000)}${']'.repeat(200_000)},"x":1}`],
  ];
  for (const [name, text] of bad)
    it(`refuses ${name}, with a reason that fits a close frame after a prefix`, () => assert.ok(Buffer.byteLength(reason(text)) <= 100));

  it('refuses bytes that are not UTF-8, and decodes a hello of another version (the server refuses it: 4002)', () => {
    assert.equal(reason(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), 'malformed JSON');
    assert.deepStrictEqual(decode(JSON.stringify({ ...hello, v: PROTOCOL_VERSION + 1 })), { ...hello, v: PROTOCOL_VERSION + 1 });
  });
});
