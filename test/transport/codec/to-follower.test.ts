import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  acksFrame,
  batchFrame,
  changesFrame,
  decode,
  encode,
  snapshotEndFrame,
  snapshotPartFrame,
  SNAPSHOT_PART_CHARS,
  type ToFollower,
} from '../../../src/transport/codec/to-follower.js';
import * as arb from './arbitraries.js';

const { seed, numRuns } = arb;
const reason = (raw: string | Uint8Array) => arb.refusal(decode, raw);
/** `fast` is what encode gives for `m`, as JSON, and decodes to `m`. */
const same = (fast: string, m: ToFollower) => {
  assert.deepStrictEqual(JSON.parse(fast), JSON.parse(encode(m)));
  assert.deepStrictEqual(decode(fast), m);
};

describe('codec: owner → follower', () => {
  arb.codecProperties(arb.toFollower, decode, encode);

  it('the fast paths give what encode gives (property)', () => {
    const epoch = fc.integer({ min: 1 });
    const v = fc.integer({ min: 1 });
    fc.assert(
      fc.property(epoch, v, fc.array(fc.tuple(arb.json, arb.id), { maxLength: 8 }), (e, v, pairs) => {
        const ms = pairs.map((p) => p[0]);
        const ids = pairs.map((p) => p[1]);
        const fast = changesFrame(
          e,
          v,
          ms.map((m) => JSON.stringify(m)),
          ids.map((i) => JSON.stringify(i)),
        );
        same(fast, { t: 'changes', epoch: e, v, ms, ids });
      }),
      { seed, numRuns },
    );
    fc.assert(
      fc.property(epoch, fc.array(fc.tuple(fc.integer({ min: 1 }), fc.nat()), { maxLength: 8 }), (e, pairs) => {
        const seqs = pairs.map((p) => p[0]);
        const vs = pairs.map((p) => p[1]);
        same(acksFrame(e, seqs, vs), { t: 'acks', epoch: e, seqs, vs });
      }),
      { seed, numRuns },
    );
    fc.assert(
      fc.property(arb.toFollower, (m) => {
        if (m.t === 'batch') same(batchFrame(m.epoch, m.items.map(encode)), m);
        if (m.t === 'snapshot-end') same(snapshotEndFrame(m.epoch, m.v, m.parts, m.chars, m.at), m);
      }),
      { seed, numRuns },
    );
    fc.assert(
      fc.property(epoch, fc.nat(), fc.nat(), arb.anyText(400, 1), (e, v, i, text) =>
        same(snapshotPartFrame(e, v, i, text), { t: 'snapshot-part', epoch: e, v, i, text }),
      ),
      { seed, numRuns },
    );
  });

  const changes = { t: 'changes', epoch: 2, v: 5, ms: [{ op: 'delete', path: 'a' }], ids: [['f', 1]] };
  const acks = { t: 'acks', epoch: 2, seqs: [1, 2], vs: [5, 6] };
  const bad: [string, unknown][] = [
    ['fewer ids than changes', { ...changes, ids: [] }],
    ['more versions than acks', { ...acks, vs: [5, 6, 7] }],
    ['a malformed id', { ...changes, ids: [['f']] }],
    ['a batch item of another epoch', { t: 'batch', epoch: 2, items: [{ ...acks, epoch: 1 }] }],
    ['a batch in a batch', { t: 'batch', epoch: 2, items: [{ t: 'batch', epoch: 2, items: [] }] }],
    ['a snapshot part in a batch', { t: 'batch', epoch: 2, items: [{ t: 'snapshot-part', epoch: 2, v: 1, i: 0, text: 'x' }] }],
    ['a broken item in a batch', { t: 'batch', epoch: 2, items: [{ ...changes, ids: [] }] }],
    ['an empty snapshot part', { t: 'snapshot-part', epoch: 2, v: 1, i: 0, text: '' }],
    ['a snapshot part over its limit', { t: 'snapshot-part', epoch: 2, v: 1, i: 0, text: 'x'.repeat(SNAPSHOT_PART_CHARS + 1) }],
    ['a welcome without maxPayload', { t: 'welcome', v: 1, epoch: 1, ownerId: 'o', instances: [] }],
    ['a message only followers send', { t: 'sync', epoch: 1, since: 0 }],
    ['a per-item ack', { t: 'ack', epoch: 1, seq: 1, v: 1 }],
    ['a per-item change', { t: 'change', epoch: 1, v: 1, m: {}, id: null }],
    ['a reply with a code and a value', { t: 'reply', epoch: 1, id: 1, value: 1, code: 'EHANDLER', message: 'm' }],
    ['a reply with a code and no message', { t: 'reply', epoch: 1, id: 1, code: 'EHANDLER' }],
    ['a reply with a message and no code', { t: 'reply', epoch: 1, id: 1, message: 'm' }],
    ['a reply to request 0', { t: 'reply', epoch: 1, id: 0, value: 1 }],
    ['a reply with a long code', { t: 'reply', epoch: 1, id: 1, code: 'E'.repeat(33), message: 'm' }],
  ];
  for (const [name, m] of bad) it(`refuses ${name}`, () => assert.ok(Buffer.byteLength(reason(JSON.stringify(m))) <= 100));

  it('a welcome may carry the holder: a lease record, checked field by field', () => {
    const welcome = { t: 'welcome', v: 1, proof: 'p'.repeat(64), epoch: 4, ownerId: 'o', instances: [], maxPayload: 1024, sv: 0 };
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
    assert.deepStrictEqual(decode(JSON.stringify(welcome)), welcome, 'without a holder (a server given none)');
    assert.deepStrictEqual(decode(JSON.stringify({ ...welcome, holder })), { ...welcome, holder });
    for (const broken of [
      { ...holder, epoch: 0 },
      { ...holder, pins: 'x' },
      { ...holder, meta: [] },
      { ...holder, host: undefined },
      'record',
      null,
    ])
      reason(JSON.stringify({ ...welcome, holder: broken }));
  });
});
