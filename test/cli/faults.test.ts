/** Fault injection for chaos tests (src/cli/faults.ts): what each fault does, and that it is off by default. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join as joinPath } from 'node:path';
import { openSync, closeSync, readdirSync } from 'node:fs';
import { createFaultKit, PAUSE_POINTS, type PausePoint } from '../../src/cli/faults.js';
import { Journal, parsePartName, parseSnapshotName } from '../../src/state/journal/index.js';
import { SNAPSHOT_TEMP } from '../../src/state/journal/compaction.js';
import { FakeClock } from '../../src/clock.js';
import { join, type Instance } from '../../src/instance/instance.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { Cluster } from '../integration/cluster.js';
import { delay, tempRoot, withStateDir } from '../helpers.js';

describe('fault kit', () => {
  it('clock-jump moves only the wall clock; disk-full fails journal writes with ENOSPC for its duration', async () => {
    const base = new FakeClock();
    const kit = createFaultKit(base);
    const noInstance = {} as Instance;
    const wall = kit.clock.wallNow();
    const mono = kit.clock.now();
    assert.equal(kit.apply(noInstance, 'clock-jump', 60_000), true);
    assert.equal(kit.clock.wallNow() - wall, 60_000);
    assert.equal(kit.clock.now(), mono);

    const root = await tempRoot();
    const fd = openSync(joinPath(root.dir, 'f'), 'w');
    try {
      const buf = Buffer.from('x');
      assert.equal(kit.journalFs.writeSync(fd, buf, 0, 1, 0), 1);
      kit.apply(noInstance, 'disk-full', 500);
      assert.throws(
        () => kit.journalFs.writeSync(fd, buf, 0, 1, 0),
        (e: NodeJS.ErrnoException) => e.code === 'ENOSPC',
      );
      await base.advance(499);
      assert.throws(
        () => kit.journalFs.writeSync(fd, buf, 0, 1, 0),
        (e: NodeJS.ErrnoException) => e.code === 'ENOSPC',
      );
      await base.advance(1);
      assert.equal(kit.journalFs.writeSync(fd, buf, 0, 1, 0), 1);
      assert.equal(kit.apply(noInstance, 'no-such-fault', 0), false);
    } finally {
      closeSync(fd);
      await root.remove();
    }
  });

  it('pause-at stops the journal once, at exactly the named point; null disarms it; other points are refused', async () => {
    /** What the directory held at each stop: snapshots, snapshot temp files, parts. */
    const seen: { point: unknown; snapshots: number[]; temps: number; parts: string[] }[] = [];
    let dir = '';
    const kit = createFaultKit(new FakeClock(), {
      announce: (line) => {
        const names = readdirSync(dir);
        seen.push({
          point: line.point,
          snapshots: names.flatMap((n) => parseSnapshotName(n) ?? []),
          temps: names.filter((n) => SNAPSHOT_TEMP.test(n)).length,
          parts: names.filter((n) => parsePartName(n)).map((n) => `${parsePartName(n)!.part}`),
        });
      },
      stop: () => undefined,
    });
    const noInstance = {} as Instance;
    assert.equal(kit.apply(noInstance, 'pause-at', 0, 'nowhere'), false);
    assert.equal(kit.apply(noInstance, 'pause-at', 0), false);
    await withStateDir('leasehold-pause-', async (d) => {
      dir = d;
      const { journal } = await Journal.open({ dir, epoch: 1, guard: () => undefined, fs: kit.journalFs });
      let v = 0;
      const append = () => journal.appendEntry({ t: 'm', v: ++v, e: 1, id: null, m: { op: 'set', path: 'n', value: v } });
      const compactOnce = async (point: PausePoint | null) => {
        assert.equal(kit.apply(noInstance, 'pause-at', 0, point), true);
        await append();
        const snapshot = journal.compact({ version: v, epoch: 1, stateVersion: 0, state: { n: v }, dedup: {} });
        await append(); // the rotation: this entry starts the next part
        await snapshot;
        await append();
      };
      for (const point of PAUSE_POINTS) await compactOnce(point);
      // Disarmed: the next compaction stops nowhere.
      kit.apply(noInstance, 'pause-at', 0, 'snapshot-written');
      await compactOnce(null);
      await journal.close();
    });
    assert.deepEqual(
      seen.map((s) => s.point),
      [...PAUSE_POINTS],
      'one stop per arming, none once disarmed',
    );
    const at = Object.fromEntries(seen.map((s) => [s.point, s]));
    // Written: the temp file is there, not yet named; the part before it still there.
    assert.deepEqual(at['snapshot-written']!.snapshots, []);
    assert.equal(at['snapshot-written']!.temps, 1);
    // Deleting: named, the older snapshot and the covered part not deleted yet.
    assert.deepEqual(at['snapshot-deleting']!.snapshots, [1, 4]);
    assert.equal(at['snapshot-deleting']!.temps, 0);
    // Rotation: the next part not created yet; once created, it is there.
    const rotation = at['rotation']!.parts;
    assert.deepEqual(
      at['rotation-created']!.parts.length,
      at['rotation']!.parts.length + 1,
      `${rotation} then ${at['rotation-created']!.parts}`,
    );
  });

  it('an owner whose journal cannot be written backs off instead of claiming epoch after epoch', async () => {
    const root = await tempRoot();
    const kit = createFaultKit();
    kit.apply({} as Instance, 'disk-full', 60_000);
    const store = new MemoryLeaseStore({ pollIntervalMs: 5 });
    const inst = join({ dataRoot: root.dir, store, journalFs: kit.journalFs });
    const errors: string[] = [];
    inst.on('error', (e) => errors.push(e.error.message));
    try {
      await delay(600);
      // 50, 100, 200, 400 ms of backoff: a handful of attempts in 600 ms, each naming the disk's error.
      assert.ok(errors.length >= 2 && errors.length <= 6, `${errors.length} attempts in 600 ms`);
      assert.ok(
        errors.every((m) => /ENOSPC/.test(m)),
        errors.join('\n'),
      );
      assert.notEqual(inst.role, 'owner');
    } finally {
      await inst.close();
      await root.remove();
    }
  });
});

describe('leasehold instance: fault commands', () => {
  let cluster: Cluster | undefined;
  after(async () => cluster?.stop());

  it('are refused as unknown without LEASEHOLD_FAULTS=1; with it, drop-link cuts a follower, which reconnects', async () => {
    const previous = process.env.LEASEHOLD_FAULTS;
    delete process.env.LEASEHOLD_FAULTS;
    cluster = await Cluster.create();
    const plain = cluster.start();
    await cluster.waitSettled();
    plain.proc.send(JSON.stringify({ op: 'fault', kind: 'clock-jump', ms: 60_000, id: 'f1' }));
    const refused = await plain.proc.waitFor((l) => l.id === 'f1');
    assert.equal(refused.event, 'error');
    assert.equal(refused.code, 'EPROTOCOL');

    process.env.LEASEHOLD_FAULTS = '1';
    try {
      const f = cluster.start();
      const owner = await cluster.waitSettled();
      assert.equal(owner, plain);
      f.proc.send(JSON.stringify({ op: 'fault', kind: 'drop-link', id: 'f2' }));
      const answer = await f.proc.waitFor((l) => l.event === 'fault' && l.id === 'f2');
      assert.equal(answer.applied, true);
      const at = f.proc.lines.indexOf(answer);
      const gone = await f.proc.waitFor((l) => l.event === 'disconnected' && f.proc.lines.indexOf(l) > at);
      assert.equal(gone.why, 'broken');
      const back = await f.proc.waitFor((l) => l.event === 'connected' && f.proc.lines.indexOf(l) > at);
      assert.equal(back.epoch, owner.epoch);
    } finally {
      if (previous === undefined) delete process.env.LEASEHOLD_FAULTS;
      else process.env.LEASEHOLD_FAULTS = previous;
    }
  });
});
