/** Fault injection for chaos tests (src/cli/faults.ts): what each fault does, and that it is off by default. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join as joinPath } from 'node:path';
import { openSync, closeSync } from 'node:fs';
import { createFaultKit } from '../../src/cli/faults.js';
import { FakeClock } from '../../src/clock.js';
import { join, type Instance } from '../../src/instance/instance.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { Cluster } from '../integration/cluster.js';
import { delay, tempRoot } from '../helpers.js';

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
