import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MutationBatcher, type BatcherLink } from '../../src/state/mutation-batcher.js';
import { decode } from '../../src/transport/protocol.js';
import { stateFollowerSchemas, MAX_MUTATES } from '../../src/state/wire.js';

const link = (version: number, maxPayload?: number) => {
  const frames: string[] = [];
  const l: BatcherLink = { epoch: 7, version, maxPayload, sendRaw: (d) => (frames.push(d), true) };
  return { l, frames };
};
const tick = () => new Promise((r) => process.nextTick(r));
type Frame = { t: string; epoch: number; seq?: number; items?: { seq: number; durable?: false }[]; durable?: false };

describe('MutationBatcher', () => {
  it('protocol 2: the mutations of one tick leave in one valid `mutates` frame, in order; one alone as `mutate`', async () => {
    const { l, frames } = link(2);
    const b = new MutationBatcher(l);
    for (let seq = 1; seq <= 5; seq++) b.send(seq, { op: 'increment', path: 'n', by: 1 }, seq !== 3);
    assert.equal(frames.length, 0, 'nothing before the tick ends');
    await tick();
    assert.equal(frames.length, 1);
    const f = decode<Frame>(frames[0]!, stateFollowerSchemas);
    assert.equal(f.t, 'mutates');
    assert.equal(f.epoch, 7);
    assert.deepEqual(
      f.items!.map((i) => [i.seq, i.durable]),
      [
        [1, undefined],
        [2, undefined],
        [3, false],
        [4, undefined],
        [5, undefined],
      ],
    );
    b.send(6, { op: 'set', path: 'a', value: 1 }, true);
    await tick();
    const one = decode<Frame>(frames[1]!, stateFollowerSchemas);
    assert.equal(one.t, 'mutate');
    assert.equal(one.seq, 6);
  });

  it('splits at MAX_MUTATES items and at a quarter of the owner’s maxPayload', async () => {
    const { l, frames } = link(2, 4096);
    const b = new MutationBatcher(l);
    for (let seq = 1; seq <= 40; seq++) b.send(seq, { op: 'set', path: 'k', value: 'x'.repeat(90) }, true);
    await tick();
    assert.ok(frames.length > 1);
    for (const f of frames) assert.ok(Buffer.byteLength(f) <= 4096 / 4 + 200, `${Buffer.byteLength(f)} bytes`);
    const seqs = frames.flatMap((f) => {
      const d = decode<Frame>(f, stateFollowerSchemas);
      return d.items ? d.items.map((i) => i.seq) : [d.seq!];
    });
    assert.deepEqual(
      seqs,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );

    const big = link(2);
    const b2 = new MutationBatcher(big.l);
    for (let seq = 1; seq <= MAX_MUTATES + 1; seq++) b2.send(seq, { op: 'increment', path: 'n' }, true);
    await tick();
    assert.equal(big.frames.length, 2);
    assert.equal(decode<Frame>(big.frames[0]!, stateFollowerSchemas).items!.length, MAX_MUTATES);
  });

  it('protocol 1: one `mutate` frame each, at once', () => {
    const { l, frames } = link(1);
    const b = new MutationBatcher(l);
    b.send(1, { op: 'delete', path: 'a' }, false);
    b.send(2, { op: 'delete', path: 'b' }, true);
    assert.deepEqual(
      frames.map((f) => decode<Frame>(f, stateFollowerSchemas)),
      [
        { t: 'mutate', epoch: 7, seq: 1, m: { op: 'delete', path: 'a' }, durable: false },
        { t: 'mutate', epoch: 7, seq: 2, m: { op: 'delete', path: 'b' } },
      ],
    );
  });
});
