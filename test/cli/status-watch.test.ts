/** The CLI's documented contract: status exit codes and fields, watch output, instance commands. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Cluster, BIN } from '../integration/cluster.js';
import { spawnNode } from '../integration/proc.js';
import { FileLeaseStore } from '../../src/lease/file-store.js';

const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('leasehold status / watch / instance commands', () => {
  let cluster: Cluster | undefined;
  after(async () => cluster?.stop());

  it('status: exit 3 when free, 0 when held with the holder and no secret; watch prints changes', async () => {
    cluster = await Cluster.create();
    let r = run(['status', '--data-root', cluster.dataRoot, '--json']);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(JSON.parse(r.stdout).held, false);

    const watcher = spawnNode(BIN, ['watch', '--data-root', cluster.dataRoot, '--json']);
    await watcher.waitFor((l) => l.event === 'free');
    const a = cluster.start();
    const owner = await cluster.waitSettled();
    assert.equal(owner, a);
    await watcher.waitFor((l) => l.event === 'owner' && l.epoch === owner.epoch);

    r = run(['status', '--data-root', cluster.dataRoot, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.held, true);
    assert.equal(s.epoch, owner.epoch);
    assert.equal(s.pid, owner.proc.pid);
    assert.equal(s.name, owner.name);
    assert.match(s.endpoint, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    assert.ok(s.since && s.expires);
    const secret = String((await new FileLeaseStore({ dataRoot: cluster.dataRoot }).inspect('/app/leasehold/owner'))!.meta.secret);
    assert.ok(secret.length > 20);
    assert.ok(!r.stdout.includes(secret));
    const human = run(['status', '--data-root', cluster.dataRoot]);
    assert.ok(!human.stdout.includes(secret));
    assert.match(human.stdout, /held by i1/);

    // instance commands on stdin
    owner.proc.send('{"op":"status","id":7}');
    const st = await owner.proc.waitFor((l) => l.event === 'status' && l.id === 7);
    assert.equal(st.role, 'owner');
    owner.proc.send('not json');
    await owner.proc.waitFor((l) => l.event === 'error' && l.code === 'EPROTOCOL');
    owner.proc.send('{"op":"launch","id":8}');
    await owner.proc.waitFor((l) => l.event === 'error' && l.id === 8);
    owner.proc.send('{"op":"close"}');
    assert.equal(await owner.proc.exited, 0);
    await watcher.waitFor((l) => l.event === 'free');
    watcher.child.kill('SIGINT');
    assert.equal(await watcher.exited, 0);
    assert.equal(run(['status', '--data-root', cluster.dataRoot]).status, 3);
  });

  it('usage errors exit 2 with a message', () => {
    const r = run(['status']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--data-root/);
    assert.equal(run(['frobnicate']).status, 2);
    assert.equal(run(['instance', '--data-root', '/tmp', '--ttl', 'x']).status, 2);
  });
});
