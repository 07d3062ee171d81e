/**
 * A journal damaged in the middle (not a torn tail) under real `leasehold instance` processes: they stop
 * in role `failed` naming the file and offset, claim a bounded number of epochs and then none; `leasehold
 * repair` refuses while an owner is alive, and after it the instances own again on the good prefix.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, BIN, type Member } from './cluster.js';
import { killAll } from './proc.js';
import { delay, until } from '../helpers.js';
import { parseFrames } from '../../src/state/journal/index.js';

const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('a damaged journal under real processes', () => {
  let cluster: Cluster | undefined;
  after(async () => cluster?.stop());
  const stateDir = () => join(cluster!.dataRoot, 'leasehold', 'state', 'app', 'leasehold', 'owner');
  const epochClaims = () => readdirSync(join(cluster!.dataRoot, 'leasehold', 'leases', 'app', 'leasehold', 'owner', 'epochs')).length;
  let damaged: { path: string; offset: number } | undefined;
  let failed: Member[] = [];

  it('stops every instance in role failed, naming file and offset, with at most one epoch claimed each', async () => {
    cluster = await Cluster.create(['--ttl', '1500']);
    const a = cluster.start();
    const b = cluster.start();
    await cluster.waitSettled();
    for (let i = 1; i <= 6; i++) {
      a.proc.send(JSON.stringify({ op: 'push', path: 'log', value: i, id: i }));
      await a.proc.waitFor((l) => l.event === 'ack' && l.id === i);
    }
    await killAll([a.proc, b.proc]);
    // The segment with the entries: damage entry 3 of 6, with entries after it.
    const segment = readdirSync(stateDir())
      .filter((n) => /^journal-\d+-\d+\.log$/.test(n))
      .map((n) => join(stateDir(), n))
      .find((p) => parseFrames(readFileSync(p)).records.length >= 7)!;
    const buf = readFileSync(segment);
    const offset = parseFrames(buf).records[3]!.offset;
    buf[offset + 12] = buf[offset + 12]! ^ 0xff;
    writeFileSync(segment, buf);
    damaged = { path: segment, offset };
    const before = epochClaims();

    failed = [cluster.start(), cluster.start(), cluster.start()];
    for (const m of failed) {
      const line = await m.proc.waitFor((l) => l.event === 'role' && l.role === 'failed', 10_000);
      assert.equal(line.code, 'ECORRUPT');
      assert.equal(line.path, segment);
      assert.equal(line.offset, offset);
      assert.ok(String(line.message).includes(`${segment} is damaged at offset ${offset}`), String(line.message));
      const error = await m.proc.waitFor((l) => l.event === 'error' && l.code === 'ECORRUPT');
      assert.equal(error.path, segment);
      assert.equal(error.offset, offset);
    }
    const claimed = epochClaims() - before;
    assert.ok(claimed >= 1 && claimed <= failed.length, `${claimed} epochs claimed by ${failed.length} instances`);
    // Staying failed claims nothing more, and nobody owns.
    await delay(1500);
    assert.equal(epochClaims() - before, claimed, 'epochs claimed while failed');
    assert.ok(failed.every((m) => m.role === 'failed' && m.proc.child.exitCode === null));
    const status = run(['status', '--data-root', cluster.dataRoot, '--json']);
    assert.equal(status.status, 3, status.stderr);
    assert.deepEqual((({ held, damaged: d }) => ({ held, path: d?.path, offset: d?.offset }))(JSON.parse(status.stdout)), {
      held: false,
      path: segment,
      offset,
    });
    console.log(`# ${claimed} epoch(s) claimed by ${failed.length} instances facing the damage`);
  });

  it('leasehold repair refuses while an owner is alive; after it the instances own the good prefix', async () => {
    assert.ok(cluster && damaged, 'the first test ran');
    // An owner alive on another key's lease would not matter: take the key itself with a healthy instance
    // on a fresh data root.
    const healthy = await Cluster.create();
    try {
      healthy.start();
      await healthy.waitSettled();
      const refused = run(['repair', '--data-root', healthy.dataRoot]);
      assert.equal(refused.status, 1, refused.stderr);
      assert.match(refused.stderr, /held by i1 .*an owner is alive.*repair only with no owner running/);
      assert.equal(refused.stdout, '');
    } finally {
      await healthy.stop();
    }

    const r = run(['repair', '--data-root', cluster.dataRoot]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`cut ${damaged.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at offset ${damaged.offset}`));
    assert.match(r.stdout, /removed the damage marker/);
    assert.match(r.stdout, /recovers to version 2/);
    // The failed instances notice by themselves.
    const owner = await cluster.waitSettled(0, 15_000);
    assert.ok(failed.includes(owner));
    const id = 'get-after-repair';
    owner.proc.send(JSON.stringify({ op: 'get', id }));
    const state = await owner.proc.waitFor((l) => l.event === 'state' && l.id === id);
    assert.deepEqual(state.state, { log: [1, 2] });
    assert.equal(state.version, 2);
    await until(() => cluster!.settled(), 5000, 'all following');
  });
});
