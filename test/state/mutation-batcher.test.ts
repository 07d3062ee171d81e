import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MutationBatcher, type BatcherLink } from '../../src/state/mutation-batcher.js';
import { DecodeError } from '../../src/transport/codec/fields.js';
import { decode, MAX_MUTATES, type ToOwner } from '../../src/transport/codec/to-owner.js';

const link = (maxPayload = 1 << 20) => {
  const frames: string[] = [];
  const l: BatcherLink = { epoch: 7, maxPayload, sendRaw: (d) => (frames.push(d), true) };
  return { l, frames };
};
const tick = () => new Promise((r) => process.nextTick(r));
const decoded = (frame: string): ToOwner => {
  const m = decode(frame);
  assert.ok(!(m instanceof DecodeError), m instanceof DecodeError ? m.reason : '');
  return m;
};
const seqsOf = (m: ToOwner): number[] => (m.t === 'mutates' ? m.items.map((i) => i.seq) : m.t === 'mutate' ? [m.seq] : []);

describe('MutationBatcher', () => {
  it('the mutations of one tick leave in one valid `mutates` frame, in order; one alone as `mutate`', async () => {
    const { l, frames } = link();
    const b = new MutationBatcher(l);
    for (let seq = 1; seq <= 5; seq++) b.send(seq, { op: 'increment', path: 'n', by: 1 }, seq !== 3);
    assert.equal(frames.length, 0, 'nothing before the tick ends');
    await tick();
    assert.equal(frames.length, 1);
    const f = decoded(frames[0]!);
    assert.equal(f.t, 'mutates');
    assert.equal(f.epoch, 7);
    assert.deepEqual(f.t === 'mutates' && f.items.map((i) => [i.seq, i.durable]), [
      [1, undefined],
      [2, undefined],
      [3, false],
      [4, undefined],
      [5, undefined],
    ]);
    b.send(6, { op: 'set', path: 'a', value: 1 }, false);
    await tick();
    assert.deepEqual(decoded(frames[1]!), { t: 'mutate', epoch: 7, seq: 6, m: { op: 'set', path: 'a', value: 1 }, durable: false });
  });

  it('splits at MAX_MUTATES items and at a quarter of the owner’s maxPayload', async () => {
    const { l, frames } = link(4096);
    const b = new MutationBatcher(l);
    for (let seq = 1; seq <= 40; seq++) b.send(seq, { op: 'set', path: 'k', value: 'x'.repeat(90) }, true);
    await tick();
    assert.ok(frames.length > 1);
    for (const f of frames) assert.ok(Buffer.byteLength(f) <= 4096 / 4 + 200, `${Buffer.byteLength(f)} bytes`);
    assert.deepEqual(
      frames.flatMap((f) => seqsOf(decoded(f))),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );

    const big = link();
    const b2 = new MutationBatcher(big.l);
    for (let seq = 1; seq <= MAX_MUTATES + 1; seq++) b2.send(seq, { op: 'increment', path: 'n' }, true);
    await tick();
    assert.equal(big.frames.length, 2);
    assert.equal(seqsOf(decoded(big.frames[0]!)).length, MAX_MUTATES);
  });
});
