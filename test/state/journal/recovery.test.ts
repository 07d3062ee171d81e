import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { recover, type LogSource } from '../../../src/state/journal/recovery.js';
import { frame } from '../../../src/state/journal/frames.js';
import { beginRecord, partName, snapshotName, type Fence } from '../../../src/state/journal/layout.js';
import { LeaseholdError } from '../../../src/errors.js';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';

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

  describe('with the replica the caller holds (step 7)', () => {
    const withId = (v: number, e: number) => frame({ t: 'm', v, e, id: ['F', v], m: { op: 'set', path: `k${v}`, value: v } });
    /** A snapshot at 2 (its dedup as given) and a part of epoch 1 with the entries 3…6, each with the id F/v. */
    function files(dedup: object = { F: { seq: 2, v: 2 } }) {
      const snap = frame({ f: 1, version: 2, epoch: 1, sv: 0, dedup, state: { at: 2 } });
      const log = Buffer.concat([frame(beginRecord(1, 0, 3, null)), ...[3, 4, 5, 6].map((v) => withId(v, 1))]);
      return { [snapshotName(2)]: snap, [partName(1, 0)]: log };
    }

    it("starts from a replica whose change the history holds: the snapshot's header only, every entry after it", () => {
      const r = recover(memory(files()), { version: 5, id: ['F', 5] });
      assert.equal(r.fromReplica, 5);
      assert.equal(r.snapshot?.state, undefined, "the snapshot's state is not read");
      assert.deepEqual(r.snapshot?.dedup, { F: { seq: 2, v: 2 } });
      assert.equal(r.snapshot?.version, 2);
      assert.deepEqual(
        r.entries.map((x) => x.v),
        [3, 4, 5, 6],
        'the entries up to the replica too (their ids go to the dedup table)',
      );
      assert.equal(r.version, 6);
    });

    it('reads the state as without one when the history does not hold the replica', () => {
      const cases: [string, { version: number; id: [string, number] }][] = [
        ['another id at its version (another history)', { version: 5, id: ['G', 5] }],
        ["the snapshot's own version (its change is not kept)", { version: 2, id: ['F', 2] }],
        ['ahead of the history', { version: 7, id: ['F', 7] }],
      ];
      for (const [why, replica] of cases) {
        const r = recover(memory(files()), replica);
        assert.equal(r.fromReplica, undefined, why);
        assert.deepEqual(r.snapshot?.state, { at: 2 }, why);
      }
      const bare = recover(memory({ [snapshotName(2)]: files()[snapshotName(2)]! }), { version: 2, id: ['F', 2] });
      assert.deepEqual(bare.snapshot?.state, { at: 2 }, 'no part at all');
    });

    it("proves a replica at the snapshot's own version by the id the snapshot names (`at`)", () => {
      const f = files();
      const snap = frame({ f: 1, version: 2, epoch: 1, sv: 0, at: ['F', 2], dedup: {}, state: { at: 2 } });
      const r = recover(memory({ ...f, [snapshotName(2)]: snap }), { version: 2, id: ['F', 2] });
      assert.equal(r.fromReplica, 2);
      assert.equal(r.snapshot?.state, undefined);
      assert.deepEqual(r.snapshot?.at, ['F', 2]);
      const other = recover(memory({ ...f, [snapshotName(2)]: snap }), { version: 2, id: ['G', 2] });
      assert.deepEqual(other.snapshot?.state, { at: 2 });
      const bad = frame({ f: 1, version: 2, epoch: 1, sv: 0, at: 'F', dedup: {}, state: {} });
      assert.throws(() => recover(memory({ [snapshotName(2)]: bad })), corruptAt(snapshotName(2), 0, /`at` is not an id/));
      assert.throws(
        () => recover(memory({ ...f, [snapshotName(2)]: bad }), { version: 5, id: ['F', 5] }),
        corruptAt(snapshotName(2), 0, /`at` is not an id/),
        'the header alone is checked as the whole record is',
      );
    });

    it('reads a header longer than a read chunk, and accepts what a full read accepts (zeros after the record)', () => {
      // A dedup table of 30 000 senders: about 1.3 MB before the state, more than one read chunk.
      const dedup = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`sender-${i}-é`, { seq: i, v: 2 }]));
      const long = recover(memory(files(dedup)), { version: 5, id: ['F', 5] });
      assert.equal(long.fromReplica, 5);
      assert.equal(long.snapshot?.state, undefined);
      assert.deepEqual(long.snapshot?.dedup, dedup);
      const f = files();
      const padded = Buffer.concat([f[snapshotName(2)]!, Buffer.alloc(16)]);
      const r = recover(memory({ ...f, [snapshotName(2)]: padded }), { version: 5, id: ['F', 5] });
      assert.deepEqual(r.snapshot?.state, { at: 2 }, 'read whole, as without a replica');
      assert.deepEqual(recover(memory({ ...f, [snapshotName(2)]: padded })).snapshot?.state, { at: 2 });
    });

    it("finds the header's end whatever the dedup table holds", () => {
      const dedup = { state: { seq: 1, v: 1 }, ',"state":': { seq: 2, v: 2 }, 'a\\"': { seq: 3, v: 2 }, '{[': { seq: 1, v: 1 } };
      const r = recover(memory(files(dedup)), { version: 5, id: ['F', 5] });
      assert.equal(r.fromReplica, 5);
      assert.deepEqual(r.snapshot?.dedup, dedup);
    });

    it('damaged or hostile snapshot bytes: ECORRUPT or the same header as a full read, never another error', () => {
      const f = files({ F: { seq: 2, v: 2 }, 'x"y': { seq: 1, v: 1 } });
      const good = f[snapshotName(2)]!;
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          fc.nat(good.length + 8),
          fc.boolean(),
          (flips, length, reframe) => {
            let bytes = Buffer.from(good);
            for (const [at, b] of flips) bytes[at] = b;
            bytes = bytes.subarray(0, length);
            // Reframed: a valid checksum around whatever the payload became (a buggy or hostile writer).
            if (reframe && bytes.length >= 8) {
              bytes.writeUInt32LE(bytes.length - 8, 0);
              bytes.writeUInt32LE(crc32(bytes.subarray(8)), 4);
            }
            const outcome = (replica?: { version: number; id: [string, number] }) => {
              try {
                return recover(memory({ ...f, [snapshotName(2)]: bytes }), replica);
              } catch (e) {
                assert.ok(e instanceof LeaseholdError && e.code === 'ECORRUPT', String(e));
                return 'ECORRUPT';
              }
            };
            const full = outcome();
            const header = outcome({ version: 5, id: ['F', 5] });
            if (full === 'ECORRUPT' || header === 'ECORRUPT') return;
            const { state: _state, ...rest } = full.snapshot!;
            const { state: _unread, ...restHeader } = header.snapshot!;
            assert.deepEqual(restHeader, rest);
          },
        ),
        { numRuns: 500 },
      );
    });

    it("still checks the snapshot's checksum over the state it does not read", () => {
      const f = files();
      const snap = Buffer.from(f[snapshotName(2)]!);
      const at = snap.indexOf('"at":2') + 5;
      snap[at] = '3'.charCodeAt(0);
      assert.throws(
        () => recover(memory({ ...f, [snapshotName(2)]: snap }), { version: 5, id: ['F', 5] }),
        corruptAt(snapshotName(2), 0, /checksum mismatch/),
      );
    });
  });
});
