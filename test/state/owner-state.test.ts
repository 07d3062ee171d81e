import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { Journal, parseFrames } from '../../src/state/journal/index.js';
import { OwnerState } from '../../src/state/owner-state.js';
import { apply, type Doc, type Json, type Mutation } from '../../src/state/document.js';
import { view, WideObject, WIDE_OBJECT_MIN_KEYS } from '../../src/state/wide-object.js';
import { LeaseholdError } from '../../src/errors.js';
import { delay, tempRoot, until } from '../helpers.js';
import { FakeClock } from '../../src/clock.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { LeaseKey } from '../../src/lease/key.js';
import type { Lease } from '../../src/lease/store.js';
import { replicaOf, SharedState, type Route } from '../../src/state/shared-state.js';
import { freezeDeep } from '../../src/state/reducers.js';

describe('OwnerState', () => {
  it('keeps the journal on disk bounded: every part a snapshot covers goes, the current owner’s included', async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      const owner = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 1024, compactEvery: 50 });
      for (let i = 0; i < 60; i++)
        await Promise.all(
          Array.from({ length: 10 }, (_, j) => owner.mutate({ op: 'set', path: `k${j}`, value: i }, ['F', i * 10 + j + 1])),
        );
      await until(() => owner.snapshotVersion >= 450, 5000, 'compaction');
      await a.journal.close(); // (a running compaction and the deletions finish)
      // Whatever the owner's uptime: only the entries since the newest snapshot (whose part began right
      // after it), and those of a compaction still running; except that a snapshot of everything written
      // leaves the part that holds it until the next part starts (one file: the current part).
      const parts: number[] = [];
      for (const name of await readdir(dir))
        if (name.endsWith('.log')) parts.push(parseFrames(await readFile(join(dir, name))).records.length - 1);
      const entries = parts.reduce((a, b) => a + b, 0);
      if (owner.snapshotVersion === owner.version)
        // (that part began at a compaction at or after 450, which the wait above saw)
        assert.ok(
          parts.filter((n) => n > 0).length <= 1 && entries <= owner.version - 450,
          `parts with entries: ${parts} (snapshot of everything at ${owner.version})`,
        );
      else
        assert.ok(
          entries <= owner.version - owner.snapshotVersion + 50,
          `${entries} entries on disk after 600 mutations (snapshot at ${owner.snapshotVersion}, every 50)`,
        );
      const b = await Journal.open({ dir, epoch: 2, guard: () => undefined });
      const next = new OwnerState(b.journal, b.recovered, 2, { guard: () => undefined, maxValueBytes: 1024 });
      assert.equal(next.version, 600);
      assert.deepEqual(next.state, Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`k${j}`, 59])));
      await b.journal.close();
    } finally {
      await root.remove();
    }
  });

  it('rebuilds the exact state and dedup table from disk, compacting as it goes', async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      // compactEvery 100: snapshots start at most 50 entries early, so none covers the 30 after the 200th.
      const owner = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 1024, compactEvery: 100 });
      let expected: Json = {};
      const ms: Mutation[] = Array.from({ length: 230 }, (_, i) =>
        i % 3 === 0 ? { op: 'increment', path: 'n' } : { op: 'push', path: `list${i % 4}`, value: i },
      );
      // Two groups: a snapshot at the end of the first, the second after it.
      await Promise.all(ms.slice(0, 200).map((m, i) => owner.mutate(m, ['F', i + 1])));
      await until(() => owner.snapshotVersion >= 50, 2000, 'compaction');
      await Promise.all(ms.slice(200).map((m, i) => owner.mutate(m, ['F', 200 + i + 1])));
      for (const m of ms) expected = apply(expected, m) as Json;
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

  it('recovers wide objects from a snapshot and the entries after it, with their values and key order', async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      // compactEvery 100: one snapshot in [100, 141], and none due again within the 12 mutations after it.
      const owner = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 256 * 1024, compactEvery: 100 });
      const w: Record<string, Json> = {};
      for (let i = 0; i < WIDE_OBJECT_MIN_KEYS + 100; i++) w[`k${i}`] = i;
      await owner.mutate({ op: 'set', path: 'w', value: w }, ['F', 1]);
      // Overwrites, deletes, keys set again (to the end), new keys, array indices: before and after snapshots.
      const ms: Mutation[] = Array.from({ length: 140 }, (_, i) =>
        i % 4 === 0
          ? { op: 'delete', path: `w.k${i}` }
          : i % 4 === 1
            ? { op: 'set', path: `w.k${i - 1}`, value: 'again' }
            : i % 4 === 2
              ? { op: 'set', path: `w.${i}`, value: i }
              : { op: 'increment', path: `w.k${i}` },
      );
      await Promise.all(ms.map((m, i) => owner.mutate(m, ['F', i + 2])));
      assert.ok((owner.state as { w: Doc }).w instanceof WideObject);
      await until(() => owner.snapshotVersion >= 100, 2000, 'compaction');
      for (const [i, m] of ms.slice(0, 12).entries()) await owner.mutate(m, ['G', i + 1]); // after the snapshot
      await a.journal.close();

      const b = await Journal.open({ dir, epoch: 2, guard: () => undefined });
      assert.ok((b.recovered.snapshot?.version ?? 0) >= 100, 'a snapshot');
      assert.ok(b.recovered.entries.length >= 12, 'and entries after it');
      const next = new OwnerState(b.journal, b.recovered, 2, { guard: () => undefined, maxValueBytes: 1024 });
      assert.equal(JSON.stringify(next.state), JSON.stringify(owner.state));
      assert.deepEqual(Object.keys((view(next.state) as { w: object }).w), Object.keys((view(owner.state) as { w: object }).w));
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

  it('snapshots a small state once the entries since its last snapshot reach a quarter of its size', async () => {
    const started: number[] = [];
    const run = async (snapshotBytes: number, recoveredBytes = 0) => {
      started.length = 0;
      let written = 0;
      const journal = {
        get written() {
          return written;
        },
        lead: 0,
        snapshotBytes,
        append: async (v: number) => void (written = v),
        compact: (snap: { version: number }) => (started.push(snap.version), new Promise<void>(() => undefined)),
      } as unknown as Journal;
      const recovered = { snapshot: undefined, entries: [], entriesBytes: recoveredBytes };
      const owner = new OwnerState(journal, recovered, 1, { guard: () => undefined, maxValueBytes: 4096 });
      for (let i = 1; i <= 200; i++) await owner.mutate({ op: 'set', path: 'v', value: 'x'.repeat(1000) }, ['F', i]);
      return started[0];
    };
    // The first version at which the entries' JSON adds up to `bytes`.
    const reaches = (bytes: number) => {
      let sum = 0;
      for (let v = 1; ; v++) {
        const m = { op: 'set', path: 'v', value: 'x'.repeat(1000) };
        sum += JSON.stringify({ t: 'm', v, e: 1, id: ['F', v], m }).length;
        if (sum >= bytes) return v;
      }
    };
    assert.equal(await run(400 * 1024), reaches(100 * 1024), 'a quarter of a 400 KiB snapshot');
    assert.equal(await run(0), reaches(64 * 1024), 'at least 64 KiB');
    assert.equal(await run(8 * 1024 * 1024), undefined, 'a large state waits for snapshotEvery entries');
    assert.equal(await run(0, 32 * 1024), reaches(32 * 1024), 'recovered entries count: 64 KiB in all');
  });

  it('takes a snapshot by bytes at most once a second', async () => {
    const clock = new FakeClock();
    const started: number[] = [];
    let written = 0;
    const journal = {
      get written() {
        return written;
      },
      lead: 0,
      snapshotBytes: 0,
      append: async (v: number) => void (written = v),
      compact: async (snap: { version: number }) => void started.push(snap.version),
    } as unknown as Journal;
    const owner = new OwnerState(journal, { snapshot: undefined, entries: [] }, 1, { guard: () => undefined, maxValueBytes: 4096, clock });
    const value = 'x'.repeat(1000);
    let seq = 0;
    while (started.length === 0) await owner.mutate({ op: 'set', path: 'v', value }, ['F', ++seq]);
    const first = started[0]!;
    for (let i = 0; i < 3 * first; i++) await owner.mutate({ op: 'set', path: 'v', value }, ['F', ++seq]);
    assert.deepEqual(started, [first], 'three times the bytes, but within the second');
    await clock.advance(1000);
    await owner.mutate({ op: 'set', path: 'v', value }, ['F', ++seq]);
    assert.deepEqual(started, [first, seq], 'due at the first commit a second later');
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
    // What a joining follower is given whole: the committed state, not the applied one a crash would lose.
    assert.equal(owner.version, 2);
    assert.deepEqual(owner.lastId, ['F', 2]);
    assert.deepEqual([owner.committed.version, owner.committed.lastId, owner.committed.state], [0, undefined, {}]);
    for (const f of flushes) f();
    assert.equal(await durable, 2);
    assert.deepEqual(committed, [1, 2], 'commits in version order');
    assert.deepEqual([owner.committed.version, owner.committed.lastId, owner.committed.state], [2, ['F', 2], { n: 2 }]);
  });

  it('starts the snapshot that came due while the last one was written, without waiting for another commit', async () => {
    let written = 0;
    const compactions: { version: number; finish: () => void }[] = [];
    const journal = {
      get written() {
        return written;
      },
      append: async (v: number) => void (written = v),
      compact: (snap: { version: number }) => new Promise<void>((finish) => compactions.push({ version: snap.version, finish })),
    } as unknown as Journal;
    const owner = new OwnerState(journal, { entries: [] } as never, 1, { guard: () => undefined, maxValueBytes: 1024, compactEvery: 10 });
    for (let i = 1; i <= 10; i++) await owner.mutate({ op: 'set', path: 'k', value: i }, ['F', i]);
    assert.deepEqual(
      compactions.map((c) => c.version),
      [9],
      'a tenth of compactEvery early',
    );
    // A burst while it is written: due again, but one is running.
    for (let i = 11; i <= 25; i++) await owner.mutate({ op: 'set', path: 'k', value: i }, ['F', i]);
    assert.equal(compactions.length, 1);
    compactions[0]!.finish();
    await until(() => compactions.length === 2, 1000, 'the next snapshot, with no commit after the burst');
    assert.equal(compactions[1]!.version, 25);
    compactions[1]!.finish();
    await delay(20);
    assert.equal(compactions.length, 2, 'and no more than that');
  });

  it('a new owner whose recovered entries make a snapshot due starts it a moment after recovery, with no commit', async () => {
    const clock = new FakeClock();
    const compactions: number[] = [];
    const journal = (written: number) =>
      ({
        written,
        append: async () => undefined,
        compact: async (snap: { version: number }) => void compactions.push(snap.version),
      }) as unknown as Journal;
    const entries = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ t: 'm', v: i + 1, e: 1, id: ['F', i + 1], m: { op: 'set', path: 'k', value: i } }));
    const due = new OwnerState(journal(25), { snapshot: undefined, entries: entries(25) } as never, 2, {
      guard: () => undefined,
      maxValueBytes: 1024,
      compactEvery: 10,
      clock,
    });
    await clock.advance(999);
    assert.deepEqual(compactions, [], 'not while the takeover welcomes its followers');
    await clock.advance(1);
    assert.deepEqual(compactions, [25]);
    assert.equal(due.version, 25);
    compactions.length = 0;
    new OwnerState(journal(5), { snapshot: undefined, entries: entries(5) } as never, 2, {
      guard: () => undefined,
      maxValueBytes: 1024,
      compactEvery: 10,
      clock,
    });
    await clock.advance(2000);
    assert.deepEqual(compactions, [], 'a tail shorter than snapshotEvery waits for commits');
  });

  it('a snapshot started while a migration is being written names the state version of what it holds', async () => {
    const clock = new FakeClock();
    const snapshots: { version: number; stateVersion: number }[] = [];
    let written = 25;
    const journal = {
      get written() {
        return written;
      },
      append: (v: number) => ((written = v), new Promise<void>(() => undefined)), // never durable here
      compact: async (snap: { version: number; stateVersion: number }) => void snapshots.push(snap),
    } as unknown as Journal;
    const entries = Array.from({ length: 25 }, (_, i) => ({
      t: 'm',
      v: i + 1,
      e: 1,
      id: ['F', i + 1],
      m: { op: 'set', path: 'k', value: i },
    }));
    const owner = new OwnerState(journal, { snapshot: undefined, entries, stateVersion: 1 } as never, 2, {
      guard: () => undefined,
      maxValueBytes: 1024,
      compactEvery: 10,
      clock,
    });
    void owner.migrate({ stateVersion: 2, migrations: [[2, (s: Json) => ({ ...(s as object), migrated: true })]] });
    written = 25; // (the migration's entry is not written yet: the committed state is still version 25)
    await clock.advance(1000);
    assert.deepEqual(snapshots, [{ ...snapshots[0]!, version: 25, stateVersion: 1 }]);
  });

  it("starts from a replica the journal proves, without the snapshot's state, and rebuilds dedup from every entry", async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      const one = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 1024, compactEvery: 100 });
      const ms: Mutation[] = Array.from({ length: 230 }, (_, i) => ({ op: 'set', path: `k${i % 40}`, value: i }));
      await Promise.all(ms.slice(0, 200).map((m, i) => one.mutate(m, ['F', i + 1])));
      await until(() => one.snapshotVersion >= 50, 2000, 'compaction');
      await Promise.all(ms.slice(200).map((m, i) => one.mutate(m, ['F', 200 + i + 1])));
      await a.journal.close();
      const at = (v: number) => ms.slice(0, v).reduce<Json>((d, m) => apply(d, m) as Json, {});

      // A follower's replica at 225 (deeply frozen, as SharedState holds it), a marker the snapshot lacks.
      const replica = freezeDeep({ ...(at(225) as object), onlyInTheReplica: true });
      const b = await Journal.open({ dir, epoch: 2, guard: () => undefined, replica: { version: 225, id: ['F', 225] } });
      assert.equal(b.recovered.fromReplica, 225);
      assert.equal(b.recovered.snapshot?.state, undefined);
      const snapshotAt = b.recovered.snapshot!.version;
      assert.ok(snapshotAt < 210, `the snapshot (${snapshotAt}) is before the entry repeated below`);
      const two = new OwnerState(b.journal, b.recovered, 2, { guard: () => undefined, maxValueBytes: 1024, replica });
      assert.deepEqual(two.state, { ...(at(230) as object), onlyInTheReplica: true }, 'the replica, then the entries after 225');
      assert.equal(two.version, 230);
      assert.deepEqual(two.lastId, ['F', 230]);
      assert.equal(await two.mutate(ms[209]!, ['F', 210]), 230, 'a repeat of an entry the replica covered is not applied again');
      assert.equal(two.version, 230);
      await b.journal.close();

      // The same journal with a replica of another history: the snapshot's state and every entry after it.
      const c = await Journal.open({ dir, epoch: 3, guard: () => undefined, replica: { version: 225, id: ['G', 1] } });
      assert.equal(c.recovered.fromReplica, undefined);
      const three = new OwnerState(c.journal, c.recovered, 3, { guard: () => undefined, maxValueBytes: 1024 });
      assert.deepEqual(three.state, at(230));
      await c.journal.close();
    } finally {
      await root.remove();
    }
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
        'a follower that does not know its last id (its replica came from a snapshot)',
      );
      assert.equal(two.since(3, ['G', 3]), undefined, 'its change 3 came from another history: snapshot');
      assert.equal(two.since(5, null), undefined);
      assert.equal(two.since(6, ['F', 6]), undefined, 'ahead of this owner: snapshot');
      await b.journal.close();
    } finally {
      await root.remove();
    }
  });

  it('acknowledges nothing once its lease check fails; what it acknowledged before its flush reaches the next owner', async () => {
    const t = await twoOwners();
    try {
      const a = await t.owner(1);
      // Acknowledged after a passing check, before its group commit (which waits ≤ 2 ms for more)…
      assert.equal(await t.sender.push('log', 'x', { durable: false }), 1);
      // …then the owner is stopped past its ttl: on waking its check fails, and its journal refuses the flush.
      t.clock.stall(2000);
      let late = false;
      void t.sender.push('log', 'y', { durable: false }).then(() => (late = true));
      void t.sender.push('log', 'z').then(() => (late = true));
      await delay(30);
      assert.equal(late, false, 'an owner whose lease check fails acknowledges nothing, durable or not');
      assert.equal(a.journal.stats.entries, 0, 'nothing reached its journal');
      // The next owner recovers nothing of it; the sender sends it all again, and it lands once.
      const b = await t.owner(2);
      await until(() => b.state.version === 3, 2000, 'replayed');
      assert.deepEqual(b.state.state, { log: ['x', 'y', 'z'] });
      await until(() => t.sender.pendingCount === 0, 2000, 'all seen committed');
      assert.deepEqual(t.sender.get(), { log: ['x', 'y', 'z'] });
    } finally {
      await t.close();
    }
  });

  it('a non-durable mutation flushed before its owner lost the lease is a repeat at the next owner', async () => {
    const t = await twoOwners();
    try {
      const a = await t.owner(1, { confirm: false });
      assert.equal(await t.sender.push('log', 'x', { durable: false }), 1);
      await until(() => a.journal.stats.entries === 1, 2000, 'flushed');
      t.clock.stall(2000);
      assert.equal(t.sender.pendingCount, 1, 'kept until its sender sees it committed');
      const b = await t.owner(2);
      await until(() => t.sender.pendingCount === 0, 2000, 'confirmed by the next owner');
      assert.deepEqual(b.state.state, { log: ['x'] }, 'applied once');
    } finally {
      await t.close();
    }
  });

  it('acknowledges a repeat only for an id that was applied: a forged far-ahead sequence number silences nobody', async () => {
    const root = await tempRoot();
    const dir = join(root.dir, 'state');
    const push = (value: string) => ({ op: 'push', path: 'log', value });
    try {
      const a = await Journal.open({ dir, epoch: 1, guard: () => undefined });
      const one = new OwnerState(a.journal, a.recovered, 1, { guard: () => undefined, maxValueBytes: 1024 });
      assert.equal(await one.mutate(push('f1'), ['F', 1]), 1);
      assert.equal(await one.mutate(push('f2'), ['F', 2]), 2);
      // Another connection claims F's id with a number far ahead of F's.
      assert.equal(await one.mutate(push('forged'), ['F', 1e15]), 3);
      // F's own next mutations are applied, not taken for repeats.
      assert.equal(await one.mutate(push('f3'), ['F', 3]), 4);
      assert.equal(await one.mutate(push('f4'), ['F', 4]), 5);
      assert.equal(await one.mutate(push('f3'), ['F', 3]), 5, 'a true repeat: acknowledged, not applied');
      // A refused mutation sent again (its refusal lost with a connection) is refused again, not acknowledged.
      assert.equal(await one.mutate(push('g1'), ['G', 1]), 6);
      await assert.rejects(
        one.mutate({ op: 'increment', path: 'log' }, ['G', 2]),
        (e) => e instanceof LeaseholdError && e.code === 'EPROTOCOL',
      );
      assert.equal(await one.mutate(push('g3'), ['G', 3]), 7);
      await assert.rejects(
        one.mutate({ op: 'increment', path: 'log' }, ['G', 2]),
        (e) => e instanceof LeaseholdError && e.code === 'EPROTOCOL',
      );
      assert.deepEqual(one.state, { log: ['f1', 'f2', 'forged', 'f3', 'f4', 'g1', 'g3'] });
      await a.journal.close();
      // The next owner rebuilds the same record from the journal.
      const b = await Journal.open({ dir, epoch: 2, guard: () => undefined });
      const two = new OwnerState(b.journal, b.recovered, 2, { guard: () => undefined, maxValueBytes: 1024 });
      assert.equal(await two.mutate(push('f2'), ['F', 2]), 5, 'repeat');
      assert.equal(await two.mutate(push('forged'), ['F', 1e15]), 5, 'repeat');
      assert.equal(await two.mutate(push('f5'), ['F', 5]), 8);
      assert.equal(await two.mutate(push('g2'), ['G', 2]), 9, 'never applied: applied now');
      assert.deepEqual(two.state, { log: ['f1', 'f2', 'forged', 'f3', 'f4', 'g1', 'g3', 'f5', 'g2'] });
      await b.journal.close();
    } finally {
      await root.remove();
    }
  });
});

/**
 * Owners of epochs 1, 2, … of one key on a fake clock, one after the other over one journal directory, and
 * a sender (SharedState) routed to the newest, as an owner term routes its instance's own mutations.
 */
async function twoOwners() {
  const root = await tempRoot();
  const dir = join(root.dir, 'state');
  const clock = new FakeClock();
  const store = new MemoryLeaseStore({ clock });
  const key = LeaseKey.forApp('t');
  const sender = new SharedState('F');
  const replica = replicaOf(sender);
  const journals: Journal[] = [];
  const leases: Lease[] = [];
  return {
    clock,
    sender,
    /** Takes over as owner `epoch` (the previous one is treated as gone) and routes the sender to it. */
    async owner(epoch: number, options: { confirm?: boolean } = {}) {
      for (const l of leases) store.simulateCrash(l.instanceId);
      const lease = await store.acquire(key, { ttlMs: 1000, renewIntervalMs: 300, instanceId: `owner-${epoch}` });
      assert.equal(lease.epoch, epoch);
      leases.push(lease);
      const guard = () => lease.check();
      const { journal, recovered } = await Journal.open({ dir, epoch, guard });
      journals.push(journal);
      const state = new OwnerState(journal, recovered, epoch, { guard, maxValueBytes: 1024 });
      if (options.confirm !== false) state.onCommit = (c) => void replica.change(c.v, c.m, c.id);
      const route: Route = {
        send: (seq, m, durable) =>
          void state.mutate(m, ['F', seq], { durable }).then(
            (v) => replica.ack(seq, v, route),
            (e: LeaseholdError) => (e.code === 'ELOST' ? undefined : replica.nack(seq, e)),
          ),
      };
      // As a follower does: the sync (the committed changes it lacks) answered before the replays' acks.
      replica.setRoute(route);
      for (const c of state.since(sender.version) ?? []) replica.change(c.v, c.m, c.id);
      return { state, journal };
    },
    async close() {
      for (const l of leases) await l.release().catch(() => undefined);
      for (const j of journals) await j.close();
      await root.remove();
    },
  };
}
