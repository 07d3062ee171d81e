/**
 * fast-check generators of every message of both directions, within the limits the decoders check, and of
 * hostile input (text, bytes, and valid messages with one field replaced); and the properties every codec
 * has.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../../src/transport/codec/fields.js';
import type { Json } from '../../../src/state/json.js';
import type { LeaseRecord } from '../../../src/lease/record.js';
import type { InstanceInfo } from '../../../src/transport/protocol.js';
import type { Id } from '../../../src/transport/codec/fields.js';
import type { MutateItem, ToOwner } from '../../../src/transport/codec/to-owner.js';
import type { BatchItem, ToFollower } from '../../../src/transport/codec/to-follower.js';

/** Objects as JSON.parse makes them (fc.record may give them a null prototype). */
const record: typeof fc.record = ((model: never, constraints?: object) =>
  fc.record(model, { ...constraints, noNullPrototype: true } as never)) as typeof fc.record;

/** Any JSON value as JSON gives it back (-0 becomes 0). */
export const json: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as Json);
/** Any UTF-16 text, lone surrogates included. */
export const anyText = (maxLength: number, minLength = 0) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), minLength, maxLength });
const str = (maxLength: number) => anyText(maxLength);
const nonEmpty = (maxLength: number) => anyText(maxLength, 1);
const epoch = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const nat = fc.maxSafeNat();
const pos = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));

export const id: fc.Arbitrary<Id> = fc.oneof(fc.constant(null), fc.tuple(str(64), fc.maxSafeInteger()));

const instance: fc.Arbitrary<InstanceInfo> = record({
  instanceId: nonEmpty(64),
  name: str(128),
  pid: nat,
  role: fc.constantFrom('owner' as const, 'follower' as const),
  since: finite,
  appVersion: str(64),
});

const holder: fc.Arbitrary<LeaseRecord> = record({
  format: nat,
  key: str(64),
  instanceId: nonEmpty(64),
  epoch,
  pid: nat,
  processStart: fc.option(str(32), { nil: null }),
  host: str(64),
  acquiredAt: finite,
  renewedAt: finite,
  renewals: nat,
  ttlMs: pos,
  renewIntervalMs: pos,
  releasedAt: fc.option(finite, { nil: null }),
  pins: fc.array(str(16), { maxLength: 3 }),
  meta: fc.dictionary(str(16), json, { maxKeys: 3, noNullPrototype: true }),
});

export const mutateItem: fc.Arbitrary<MutateItem> = record(
  { seq: pos, m: json, durable: fc.constant(false as const) },
  { requiredKeys: ['seq', 'm'] },
);

export const toOwner: fc.Arbitrary<ToOwner> = fc.oneof(
  record(
    {
      t: fc.constant('hello' as const),
      v: nat,
      nonce: nonEmpty(128),
      epoch: nat,
      instanceId: nonEmpty(64),
      name: str(128),
      pid: nat,
      appVersion: str(64),
    },
    { requiredKeys: ['t', 'v', 'nonce', 'epoch', 'instanceId', 'name', 'pid'] },
  ),
  record({ t: fc.constant('standby' as const), epoch, endpoint: nonEmpty(1024), secret: nonEmpty(256) }),
  record({ t: fc.constant('sync' as const), epoch, since: nat, at: id }, { requiredKeys: ['t', 'epoch', 'since'] }),
  fc.tuple(epoch, mutateItem).map(([e, item]) => ({ t: 'mutate' as const, epoch: e, ...item })),
  record({ t: fc.constant('mutates' as const), epoch, items: fc.array(mutateItem, { maxLength: 5 }) }),
  record({ t: fc.constant('request' as const), epoch, id: pos, name: nonEmpty(128), payload: json }, { requiredKeys: ['t', 'epoch', 'id', 'name'] }),
);

/** Changes with as many ids as mutations. */
const changesOf = (e: number) =>
  fc
    .array(fc.tuple(json, id), { maxLength: 5 })
    .chain((pairs) => pos.map((v) => ({ t: 'changes' as const, epoch: e, v, ms: pairs.map((p) => p[0]), ids: pairs.map((p) => p[1]) })));
const acksOf = (e: number) =>
  fc
    .array(fc.tuple(pos, nat), { maxLength: 5 })
    .map((pairs) => ({ t: 'acks' as const, epoch: e, seqs: pairs.map((p) => p[0]), vs: pairs.map((p) => p[1]) }));
const nackOf = (e: number) =>
  record({ t: fc.constant('nack' as const), epoch: fc.constant(e), seq: pos, code: str(32), message: str(512) });
const batchItemOf = (e: number): fc.Arbitrary<BatchItem> => fc.oneof(changesOf(e), acksOf(e), nackOf(e));

export const toFollower: fc.Arbitrary<ToFollower> = fc.oneof(
  record(
    {
      t: fc.constant('welcome' as const),
      v: nat,
      proof: nonEmpty(128),
      epoch,
      ownerId: nonEmpty(64),
      instances: fc.array(instance, { maxLength: 3 }),
      maxPayload: pos,
      sv: nat,
      holder,
    },
    { requiredKeys: ['t', 'v', 'proof', 'epoch', 'ownerId', 'instances', 'maxPayload', 'sv'] },
  ),
  record({ t: fc.constant('presence' as const), epoch, instances: fc.array(instance, { maxLength: 3 }) }),
  record({ t: fc.constant('standby-request' as const), epoch }),
  record({ t: fc.constant('successor' as const), epoch, instanceId: nonEmpty(64), endpoint: nonEmpty(1024), secret: nonEmpty(256) }),
  record({ t: fc.constant('leaving' as const), epoch, successor: fc.option(nonEmpty(64), { nil: null }) }),
  record({ t: fc.constant('snapshot-part' as const), epoch, v: nat, i: nat, text: nonEmpty(300) }),
  record({ t: fc.constant('snapshot-end' as const), epoch, v: nat, parts: pos, chars: pos, at: id }, { requiredKeys: ['t', 'epoch', 'v', 'parts', 'chars'] }),
  epoch.chain(changesOf),
  epoch.chain(acksOf),
  epoch.chain(nackOf),
  record({ t: fc.constant('synced' as const), epoch, v: nat }),
  epoch.chain((e) =>
    record({ t: fc.constant('batch' as const), epoch: fc.constant(e), items: fc.array(batchItemOf(e), { maxLength: 4 }) }),
  ),
  record({ t: fc.constant('reply' as const), epoch, id: pos, value: json }, { requiredKeys: ['t', 'epoch', 'id'] }),
  record({ t: fc.constant('reply' as const), epoch, id: pos, code: nonEmpty(32), message: str(512) }),
);

/** Hostile input: any text, any bytes, any JSON, and valid messages with one field's value replaced. */
export function hostile(valid: fc.Arbitrary<object>): fc.Arbitrary<string | Uint8Array> {
  const tampered = fc.tuple(valid, fc.nat(), fc.oneof(json, fc.constant(undefined))).map(([m, k, value]) => {
    const keys = Object.keys(m);
    return JSON.stringify({ ...m, [keys[k % keys.length]!]: value });
  });
  const extra = fc.tuple(valid, str(8), json).map(([m, k, value]) => JSON.stringify({ ...m, [k]: value }));
  return fc.oneof(
    anyText(200),
    fc.uint8Array({ maxLength: 200 }),
    json.map((v) => JSON.stringify(v)),
    tampered,
    extra,
  );
}

export const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
export const numRuns = Number(process.env.FC_RUNS ?? 500);

/** The decoder's refusal of `raw` (failing the test when it decodes). */
export function refusal<M>(decode: (raw: string | Uint8Array) => M | DecodeError, raw: string | Uint8Array): string {
  const m = decode(raw);
  assert.ok(m instanceof DecodeError, `decoded ${String(raw).slice(0, 80)}`);
  return m.reason;
}

/** decode(encode(m)) is m for every generated message; decode never throws on hostile input. */
export function codecProperties<M extends object>(
  messages: fc.Arbitrary<M>,
  decode: (raw: string | Uint8Array) => M | DecodeError,
  encode: (m: M) => string,
): void {
  it(`decode(encode(m)) is m, for every message (property, seed ${seed})`, () => {
    fc.assert(
      fc.property(messages, (m) => {
        assert.deepStrictEqual(decode(encode(m)), m);
        assert.deepStrictEqual(decode(Buffer.from(encode(m))), m, 'from bytes');
      }),
      { seed, numRuns },
    );
  });

  it('decode never throws on hostile text or bytes; what it accepts encodes back to itself (property)', () => {
    fc.assert(
      fc.property(hostile(messages), (raw) => {
        const m = decode(raw);
        if (m instanceof DecodeError) assert.ok(Buffer.byteLength(m.reason) <= 100, m.reason);
        else assert.deepStrictEqual(decode(encode(m)), m);
      }),
      { seed, numRuns: numRuns * 4 },
    );
  });
}
