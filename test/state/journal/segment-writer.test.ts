import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { Journal, frame } from '../../../src/state/journal/index.js';
import { PREALLOC_MIN_STEP } from '../../../src/state/journal/segment-writer.js';
import { beginRecord } from '../../../src/state/journal/layout.js';
import { withStateDir } from '../../helpers.js';

const ok = () => undefined;

describe('SegmentWriter: preallocation', () => {
  it('keeps a part’s zeros within an eighth of its records (or the minimum step) as it grows', () =>
    withStateDir('leasehold-writer-', async (dir) => {
      const { journal } = await Journal.open({ dir, epoch: 1, guard: ok, partMaxEntries: 1_000_000 });
      const records = () => frame(beginRecord(1, 0, 1, null)).length + journal.stats.bytes;
      let worst = 0;
      for (let v = 1; v <= 30_000; v += 500) {
        const group = [];
        for (let i = v; i < v + 500; i++)
          group.push(journal.appendEntry({ t: 'm', v: i, e: 1, id: ['A', i], m: { op: 'set', path: `k${i}`, value: i } }));
        await Promise.all(group);
        const zeros = statSync(journal.path).size - records();
        assert.ok(zeros >= 0, 'the file holds every record');
        worst = Math.max(worst, zeros / Math.max(PREALLOC_MIN_STEP, records() / 8));
      }
      await journal.close();
      // The records reach ≈ 2.6 MiB: doubling the zeros every extension would leave up to as much again.
      assert.ok(records() > 2 * 1024 * 1024, `${records()} bytes of records`);
      assert.ok(worst <= 1.05, `zeros reached ${worst.toFixed(2)} × max(PREALLOC_MIN_STEP, records / 8)`);
    }));
});
