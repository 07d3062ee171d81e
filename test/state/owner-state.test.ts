import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Journal } from '../../src/state/journal.js';
import { OwnerState } from '../../src/state/owner-state.js';
import { apply, type Json, type Mutation } from '../../src/state/document.js';
import { LeaseholdError } from '../../src/errors.js';
import { tempRoot, until } from '../helpers.js';

describe('OwnerState', () => {
  it('rebuilds the exact state and dedup table from disk, compacting as it goes', async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      const owner = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 1024, compactEvery: 50 });
      let expected: Json = {};
      const ms: Mutation[] = Array.from({ length: 230 }, (_, i) =>
        i % 3 === 0 ? { op: 'increment', path: 'n' } : { op: 'push', path: `list${i % 4}`, value: i },
      );
      await Promise.all(ms.map((m, i) => owner.mutate(m, ['F', i + 1])));
      for (const m of ms) expected = apply(expected, m);
      assert.deepEqual(owner.state, expected);
      assert.equal(owner.version, 230);
      // A repeat of an applied id is acknowledged, not applied again; the version given is the sender's
      // latest applied one (at or after the repeated mutation's own).
      assert.equal(await owner.mutate(ms[0]!, ['F', 1]), 230);
      assert.equal(owner.version, 230);
      // Invalid: refused, nothing changed.
      await assert.rejects(
        owner.mutate({ op: 'increment', path: 'list1' }, ['F', 231]),
        (e) => e instanceof LeaseholdError && e.code === 'EPROTOCOL',
      );
      assert.equal(owner.version, 230);
      await until(() => owner.snapshotVersion >= 50, 2000, 'compaction');
      await a.journal.close();

      const b = await Journal.open({ dir, epoch: 2, guard: () => undefined });
      assert.ok((b.recovered.snapshot?.version ?? 0) >= 50, 'recovered from a snapshot');
      assert.ok(b.recovered.entries.length > 0, 'and the entries after it');
      const next = new OwnerState(b.journal, b.recovered, 2, { guard: () => undefined, maxValueBytes: 1024 });
      assert.deepEqual(next.state, expected);
      assert.equal(next.version, 230);
      assert.equal(await next.mutate(ms[229]!, ['F', 230]), 230, 'dedup survives recovery');
      assert.equal(next.version, 230);
      assert.deepEqual(
        next.since(228)?.map((c) => c.v),
        [229, 230],
        'the recovered changes after the snapshot are kept for followers catching up across owners',
      );
      await next.mutate({ op: 'set', path: 'x', value: 1 }, ['G', 1]);
      assert.deepEqual(
        next.since(230)?.map((c) => c.v),
        [231],
      );
      await b.journal.close();
    } finally {
      await root.remove();
    }
  });

  it('acknowledges a repeat only once the original is committed, and fails it with the original', async () => {
    let commit!: () => void;
    let fail!: (e: Error) => void;
    const journal = {
      append: () =>
        new Promise<void>((resolve, reject) => {
          commit = resolve;
          fail = reject;
        }),
      compact: async () => undefined,
    } as unknown as Journal;
    const owner = new OwnerState(journal, { entries: [] } as never, 1, { guard: () => undefined, maxValueBytes: 1024 });
    const first = owner.mutate({ op: 'increment', path: 'n' }, ['F', 1]);
    let repeatDone = false;
    const repeat = owner.mutate({ op: 'increment', path: 'n' }, ['F', 1]).then((v) => ((repeatDone = true), v));
    await new Promise((r) => setImmediate(r));
    assert.equal(repeatDone, false, 'a repeat must not be acknowledged before the original is durable');
    commit();
    assert.equal(await first, 1);
    assert.equal(await repeat, 1);
    assert.equal(owner.version, 1);

    const second = owner.mutate({ op: 'increment', path: 'n' }, ['F', 2]);
    const again = owner.mutate({ op: 'increment', path: 'n' }, ['F', 2]);
    fail(new Error('disk gone'));
    await assert.rejects(second, /disk gone/);
    await assert.rejects(again, /disk gone/);
  });

  it('durable: false acknowledges once applied; commits (and broadcasts) still follow in order', async () => {
    const flushes: (() => void)[] = [];
    const journal = {
      append: () => new Promise<void>((resolve) => flushes.push(resolve)),
      compact: async () => undefined,
    } as unknown as Journal;
    const owner = new OwnerState(journal, { entries: [] } as never, 1, { guard: () => undefined, maxValueBytes: 1024 });
    const committed: number[] = [];
    owner.onCommit = (c) => committed.push(c.v);
    assert.equal(await owner.mutate({ op: 'increment', path: 'n' }, ['F', 1], { durable: false }), 1, 'acked before any flush');
    let durableDone = false;
    const durable = owner.mutate({ op: 'increment', path: 'n' }, ['F', 2]).then((v) => ((durableDone = true), v));
    await new Promise((r) => setImmediate(r));
    assert.equal(durableDone, false, 'a durable mutation still waits for its flush');
    assert.deepEqual(committed, []);
    for (const f of flushes) f();
    assert.equal(await durable, 2);
    assert.deepEqual(committed, [1, 2], 'commits in version order');
  });

  it('answers a follower whose history differs at its version with a snapshot, also right after a failover', async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      const one = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 1024 });
      for (let seq = 1; seq <= 5; seq++) await one.mutate({ op: 'increment', path: 'n' }, ['F', seq]);
      await a.journal.close();
      const b = await Journal.open({ dir, epoch: 2, guard: () => undefined });
      const two = new OwnerState(b.journal, b.recovered, 2, { guard: () => undefined, maxValueBytes: 1024 });
      // The recovered changes are kept for followers catching up, and checked against their `at`.
      assert.deepEqual(
        two.since(3, ['F', 3])?.map((c) => c.v),
        [4, 5],
      );
      assert.deepEqual(two.since(5, ['F', 5]), []);
      assert.deepEqual(
        two.since(3)?.map((c) => c.v),
        [4, 5],
        'a follower that does not know its last id (protocol 1)',
      );
      assert.equal(two.since(3, ['G', 3]), undefined, 'its change 3 came from another history: snapshot');
      assert.equal(two.since(5, null), undefined);
      assert.equal(two.since(6, ['F', 6]), undefined, 'ahead of this owner: snapshot');
      await b.journal.close();
    } finally {
      await root.remove();
    }
  });
});
