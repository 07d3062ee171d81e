/** `leasehold status --etcd` / `watch --etcd`: the same contract as on a data root, read from etcd. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { BIN } from '../integration/cluster.js';
import { spawnNode } from '../integration/proc.js';
import { EtcdLeaseStore } from '../../src/lease/etcd-store.js';
import { startEtcd } from '../lease/etcd-server.js';
import { tempRoot } from '../helpers.js';

/** Runs the command to its end (asynchronously: etcd's client keeps this process's loop busy meanwhile). */
function run(args: string[], bin = BIN): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

const root = await tempRoot('leasehold-cli-etcd-');
const server = await startEtcd(root.dir, { fast: true });
after(async () => {
  if (typeof server !== 'string') await server.stop();
  await root.remove();
});

describe('leasehold status / watch --etcd', () => {
  it('watch exits on SIGINT even when etcd cannot be reached', async () => {
    const watcher = spawnNode(BIN, ['watch', '--etcd', 'http://127.0.0.1:1', '--json']);
    try {
      await new Promise((r) => setTimeout(r, 500));
      watcher.child.kill('SIGINT');
      const code = await Promise.race([watcher.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
      assert.equal(code, 0);
    } finally {
      watcher.child.kill('SIGKILL');
    }
  });

  it('without the etcd3 package: exit 1 naming it', async () => {
    // The command's bundle and its loader alone, where no node_modules holds etcd3 (ws and proper-lockfile
    // are in the bundle).
    const copy = await tempRoot('leasehold-cli-no-etcd3-');
    try {
      mkdirSync(join(copy.dir, 'bin'));
      mkdirSync(join(copy.dir, 'out'));
      for (const f of ['leasehold.cjs', 'bundle-loader.cjs']) copyFileSync(join(dirname(BIN), f), join(copy.dir, 'bin', f));
      copyFileSync(join(dirname(BIN), '../out/cli.cjs'), join(copy.dir, 'out', 'cli.cjs'));
      const r = await run(['status', '--etcd', 'http://127.0.0.1:1', '--json'], join(copy.dir, 'bin', 'leasehold.cjs'));
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /--etcd needs the etcd3 package: npm install etcd3/);
    } finally {
      await copy.remove();
    }
  });

  if (typeof server === 'string') {
    it('runs against a real etcd', (t) => t.skip(server));
    return;
  }
  it('status: exit 3 when free, 0 when held (no secret); watch prints each change; other commands refuse --etcd', async () => {
    const client = new Etcd3({ hosts: server.endpoint });
    const store = new EtcdLeaseStore({ client });
    let watcher: ReturnType<typeof spawnNode> | undefined;
    try {
      let r = await run(['status', '--etcd', server.endpoint, '--app', 'cli', '--json']);
      assert.equal(r.status, 3, r.stderr);
      assert.equal(JSON.parse(r.stdout).held, false);

      watcher = spawnNode(BIN, ['watch', '--etcd', server.endpoint, '--app', 'cli', '--json']);
      await watcher.waitFor((l) => l.event === 'free');
      const lease = await store.acquire('/app/cli/owner', {
        instanceId: 'etcd-holder',
        ttlMs: 2000,
        meta: { name: 'holder', endpoint: 'ws://127.0.0.1:1/', secret: 'not-to-be-printed-0123456789' },
      });
      await watcher.waitFor((l) => l.event === 'owner' && l.instanceId === 'etcd-holder' && l.epoch === lease.epoch);

      r = await run(['status', '--etcd', server.endpoint, '--app', 'cli', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.held, true);
      assert.equal(s.epoch, lease.epoch);
      assert.equal(s.name, 'holder');
      assert.equal(s.pid, process.pid);
      assert.ok(!r.stdout.includes('not-to-be-printed'));
      const human = await run(['status', '--etcd', server.endpoint, '--app', 'cli']);
      assert.match(human.stdout, /held by holder/);
      assert.ok(!human.stdout.includes('not-to-be-printed'));

      await lease.release();
      await watcher.waitFor((l) => l.event === 'free');
      watcher.child.kill('SIGINT');
      assert.equal(await watcher.exited, 0);
      r = await run(['status', '--etcd', server.endpoint, '--app', 'cli', '--json']);
      assert.equal(r.status, 3);
      assert.equal(JSON.parse(r.stdout).reason, 'released');

      for (const [args, why] of [
        [['instance', '--etcd', server.endpoint, '--data-root', root.dir], /works with status and watch only/],
        [['get', '--etcd', server.endpoint], /works with status and watch only/],
        [['demo', '--etcd', server.endpoint], /works with status and watch only/],
        [['status', '--etcd', server.endpoint, '--data-root', root.dir], /not both/],
      ] as const) {
        const refused = await run([...args]);
        assert.equal(refused.status, 2, args.join(' '));
        assert.match(refused.stderr, why);
      }
    } finally {
      watcher?.child.kill('SIGKILL');
      await store.close();
      client.close();
    }
  });
});
