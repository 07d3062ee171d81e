import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { recover, type LogSource } from '../../../src/state/journal/recovery.js';
import { frame } from '../../../src/state/journal/frames.js';
import { beginRecord, partName, snapshotName, type Fence } from '../../../src/state/journal/layout.js';
import { LeaseholdError } from '../../../src/errors.js';

/** A directory in memory; `reads` names every file read, with the bytes read from it. */
function memory(files: Record<string, Buffer>): LogSource & { reads: Map<string, number> } {
  const reads = new Map<string, number>();
  return {
    reads,
    list: () => Object.keys(files),
    path: (name) => `/d/${name}`,
    size: (name) => files[name]!.length,
    read(name, offset, length) {
      const got = files[name]!.subarray(offset, offset + length);
      reads.set(name, (reads.get(name) ?? 0) + got.length);
      return got;
    },
  };
}

const entry = (v: number, e: number) => frame({ t: 'm', v, e, id: null, m: { op: 'set', path: `k${v}`, value: v } });
/** Part `p` of epoch `e`: its begin record (first version `from`), entries `from`…`to`, then `zeros` zero bytes. */
function part(e: number, p: number, from: number, to: number, prev: Fence | null = null, zeros = 0): Buffer {
  const entries = [];
  for (let v = from; v <= to; v++) entries.push(entry(v, e));
  return Buffer.concat([frame(beginRecord(e, p, from, prev)), ...entries, Buffer.alloc(zeros)]);
}
const snapshot = (version: number) => frame({ f: 1, version, epoch: 1, sv: 0, dedup: {}, state: { at: version } });
const corruptAt = (name: string, offset: number, why: RegExp) => (e: unknown) =>
  e instanceof LeaseholdError && e.code === 'ECORRUPT' && e.path === `/d/${name}` && e.offset === offset && why.test(e.message);

describe('recovery (a pure function of a listing and reads)', () => {
  it('cuts a torn tail of the newest part: a bad frame followed only by zeros', () => {
    const whole = part(1, 0, 1, 2);
    const torn = Buffer.concat([whole, entry(3, 1).subarray(0, 9), Buffer.alloc(100)]);
    const r = recover(memory({ [partName(1, 0)]: torn }));
    assert.deepEqual(
      r.entries.map((x) => x.v),
      [1, 2],
    );
    assert.deepEqual(r.cut, {
      name: partName(1, 0),
      path: `/d/${partName(1, 0)}`,
      offset: whole.length,
      bytes: torn.length - whole.length,
    });
    assert.deepEqual(r.fence, { e: 1, p: 0, n: whole.length });
  });

  it('damage followed by data, or in any part but the newest, is ECORRUPT naming the file and offset', () => {
    const good = part(1, 0, 1, 3);
    const at = frame(beginRecord(1, 0, 1, null)).length + entry(1, 1).length;
    const bad = Buffer.from(good);
    bad[at + 12] = bad[at + 12]! ^ 0xff;
    assert.throws(() => recover(memory({ [partName(1, 0)]: bad })), corruptAt(partName(1, 0), at, /checksum mismatch/));
    // A torn-looking tail in a part that another part follows: rotation starts a part only after the last
    // group of the one before was synced, so it is damage.
    const older = Buffer.concat([part(1, 0, 1, 2), entry(3, 1).subarray(0, 9)]);
    assert.throws(
      () => recover(memory({ [partName(1, 0)]: older, [partName(1, 1)]: part(1, 1, 3, 4) })),
      corruptAt(partName(1, 0), part(1, 0, 1, 2).length, /incomplete record/),
    );
  });

  it('reads a fenced part only up to the length its successor recorded, and a shorter one is damage', () => {
    const fenced = part(1, 0, 1, 2);
    const late = Buffer.concat([fenced, entry(3, 1)]); // appended by the deposed owner after the takeover
    const files = { [partName(1, 0)]: late, [partName(2, 0)]: part(2, 0, 3, 4, { e: 1, p: 0, n: fenced.length }) };
    const r = recover(memory(files));
    assert.deepEqual(
      r.entries.map((x) => [x.v, x.e]),
      [
        [1, 1],
        [2, 1],
        [3, 2],
        [4, 2],
      ],
    );
    assert.deepEqual(r.trim, undefined, 'the fence is on epoch 2, read to its end');
    files[partName(1, 0)] = fenced.subarray(0, fenced.length - 1);
    assert.throws(
      () => recover(memory(files)),
      corruptAt(partName(1, 0), fenced.length - 1, /shorter than the \d+ bytes its successor recorded/),
    );
  });

  it('ignores a deposed owner’s late part (past the fenced one) and epochs the chain skips', () => {
    const files = {
      [partName(1, 0)]: part(1, 0, 1, 2),
      [partName(1, 1)]: part(1, 1, 3, 5), // started by owner 1 after owner 3 fenced it at part 0
      [partName(2, 0)]: part(2, 0, 3, 3, { e: 1, p: 0, n: 999 }), // owner 2, deposed before 3 took over: 3 fenced 1
      [partName(3, 0)]: part(3, 0, 3, 4, { e: 1, p: 0, n: part(1, 0, 1, 2).length }),
    };
    const r = recover(memory(files));
    assert.deepEqual(
      r.entries.map((x) => [x.v, x.e]),
      [
        [1, 1],
        [2, 1],
        [3, 3],
        [4, 3],
      ],
    );
    assert.deepEqual(r.fence, { e: 3, p: 0, n: files[partName(3, 0)]!.length });
    assert.deepEqual(r.obsolete.sort(), [partName(1, 1), partName(2, 0)]);
  });

  it('reads the newest snapshot and only the parts from the one holding the version after it', () => {
    const files = {
      [snapshotName(4)]: snapshot(4),
      [snapshotName(2)]: snapshot(2),
      [partName(1, 0)]: part(1, 0, 1, 3),
      [partName(1, 1)]: part(1, 1, 4, 6),
      [partName(1, 2)]: part(1, 2, 7, 8),
    };
    const source = memory(files);
    const r = recover(source);
    assert.equal(r.snapshot?.version, 4);
    assert.deepEqual(
      r.entries.map((x) => x.v),
      [5, 6, 7, 8],
    );
    assert.equal(r.snapshotBytes, snapshot(4).length, 'the snapshot’s size');
    assert.equal(
      r.entriesBytes,
      [5, 6, 7, 8].reduce((n, v) => n + entry(v, 1).length, 0),
      'the entries’ size, frames and all',
    );
    assert.equal(source.reads.has(partName(1, 0)), false, 'a part the snapshot covers is not even opened');
    assert.equal(source.reads.has(snapshotName(2)), false);
    assert.deepEqual(r.obsolete.sort(), [partName(1, 0), snapshotName(2)]);
  });

  it('a snapshot newer than every part: nothing to replay, and the newest part is still the fence', () => {
    const p = part(2, 0, 5, 7);
    const r = recover(memory({ [snapshotName(9)]: snapshot(9), [partName(2, 0)]: p }));
    assert.equal(r.version, 9);
    assert.deepEqual(r.entries, []);
    assert.equal(r.entriesBytes, 0);
    assert.deepEqual(r.fence, { e: 2, p: 0, n: p.length });
  });

  it('a part without a begin record (its writer died creating it) is empty; with records after it, damage', () => {
    const files = { [partName(1, 0)]: part(1, 0, 1, 2), [partName(1, 1)]: Buffer.alloc(0), [partName(2, 0)]: Buffer.alloc(4096) };
    const r = recover(memory(files));
    assert.deepEqual(
      r.entries.map((x) => x.v),
      [1, 2],
    );
    assert.deepEqual(r.fence, { e: 1, p: 0, n: part(1, 0, 1, 2).length });
    assert.equal(r.newestEpoch, 2);
    assert.deepEqual(r.obsolete.sort(), [partName(1, 1), partName(2, 0)]);
    files[partName(2, 0)] = entry(3, 2);
    assert.throws(() => recover(memory(files)), corruptAt(partName(2, 0), 0, /no begin record/));
  });

  it('a part missing in the middle of the history is damage, named at the part after the gap', () => {
    const files = { [partName(1, 0)]: part(1, 0, 1, 2), [partName(1, 2)]: part(1, 2, 5, 6) };
    assert.throws(() => recover(memory(files)), corruptAt(partName(1, 2), 0, /first version 5 follows 2: a part before it is missing/));
  });

  it('a record of another format is damage, not guessed at', () => {
    const begin = frame({ ...beginRecord(1, 0, 1, null), f: 2 });
    assert.throws(
      () => recover(memory({ [partName(1, 0)]: Buffer.concat([begin, entry(1, 1)]) })),
      corruptAt(partName(1, 0), 0, /format 2 is not known/),
    );
  });
});
