import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_EARLIER_RUNS, fromStored, recordApplied, wasApplied, type Applied } from '../../src/state/dedup.js';

/** The record after applying `seqs` in order (each one not applied before). */
function after(seqs: number[]): Applied | undefined {
  let a: Applied | undefined;
  seqs.forEach((s, i) => (a = recordApplied(a, s, i + 1)));
  return a;
}

describe('dedup record', () => {
  it('knows exactly which numbers were applied, in any order, while it keeps every run', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 60 }), (seqs) => {
        const a = after(seqs);
        const set = new Set(seqs);
        for (let s = 1; s <= 61; s++) assert.equal(wasApplied(a, s), set.has(s), `seq ${s} after ${seqs.join(',')}`);
        if (a) {
          assert.equal(a.seq, Math.max(...seqs));
          assert.equal(a.v, seqs.length, 'the latest applied version');
          // Runs are ascending, disjoint and never adjacent (merged).
          const runs = [...(a.below ?? []), a.from, a.seq];
          for (let i = 0; i < runs.length; i += 2) {
            assert.ok(runs[i]! <= runs[i + 1]!);
            if (i > 0) assert.ok(runs[i]! > runs[i - 1]! + 1, `runs ${runs.join(',')}`);
          }
        }
      }),
    );
  });

  it('shares its earlier runs for the next number, and fills the hole a far-ahead number left', () => {
    const a = after([1, 2, 3, 1e15]);
    assert.deepEqual(a, { seq: 1e15, v: 4, from: 1e15, below: [1, 3] });
    const b = recordApplied(a, 4, 5);
    assert.deepEqual(b.below, [1, 4]);
    assert.equal(wasApplied(b, 5), false);
    const c = recordApplied(b, 1e15 + 1, 6);
    assert.equal(c.below, b.below, 'the common case copies no runs');
  });

  it('keeps the newest runs: an older repeat beyond them is applied again', () => {
    const seqs = Array.from({ length: MAX_EARLIER_RUNS + 2 }, (_, i) => 1 + 2 * i); // 1, 3, 5, …: all holes
    const a = after(seqs)!;
    assert.equal(a.below!.length, 2 * MAX_EARLIER_RUNS);
    assert.equal(wasApplied(a, 1), false, 'the lowest run was dropped');
    assert.equal(wasApplied(a, 3), true);
  });

  it('reads a snapshot record, taking anything damaged as one run from 1', () => {
    assert.deepEqual(fromStored({ seq: 5, v: 9, from: 4, below: [1, 2] }), { seq: 5, v: 9, from: 4, below: [1, 2] });
    assert.deepEqual(fromStored({ seq: 5, v: 9 }), { seq: 5, v: 9, from: 1, below: undefined });
    assert.deepEqual(fromStored({ seq: 5, v: 9, from: 7, below: [1] }), { seq: 5, v: 9, from: 1, below: undefined });
  });
});
