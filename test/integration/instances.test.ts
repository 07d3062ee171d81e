/**
 * Black-box tests of election and failover: real `leasehold instance` processes, observed through the
 * documented JSON lines only.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { Cluster, BIN, type Member } from './cluster.js';
import { outPath } from './proc.js';
import { tempRoot } from '../helpers.js';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import { delay } from '../helpers.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

for (const transport of ['tcp', 'ipc'] as const) {
  describe(`instances over ${transport}`, () => {
    it('five instances → one owner, four connected followers; SIGKILL → one new owner, all connected to it', async () => {
      cluster = await Cluster.create(['--transport', transport, '--ttl', '2000']);
      for (let i = 0; i < 5; i++) cluster.start();
      const owner = await cluster.waitSettled();
      assert.equal(cluster.owners().length, 1);
      assert.equal(cluster.live().filter((m) => m.role === 'follower').length, 4);
      const presence = await owner.proc.waitFor((l) => l.event === 'presence' && (l.instances as unknown[]).length === 5);
      assert.equal((presence.instances as { role: string }[]).filter((i) => i.role === 'owner').length, 1);
      // The owner designates its successor designateAfterMs (50 ms) after it serves, and the others connect
      // to it in advance: well within this.
      await delay(500);

      owner.proc.child.kill('SIGKILL');
      await owner.proc.exited;
      const next = await cluster.waitSettled(owner.epoch);
      assert.notEqual(next, owner);
      assert.equal(next.epoch, owner.epoch + 1);
      assert.equal(cluster.live().length, 4);
      assert.deepEqual(cluster.doubleOwners(), []);
      // The designated successor took over, and the others were welcomed over their standby links to it
      // (designated long before the kill).
      const followers = cluster.live().filter((m) => m !== next);
      const vias = followers.map((m) => m.proc.lines.find((l) => l.event === 'connected' && l.epoch === next.epoch)?.via);
      assert.deepEqual(vias, ['handover', 'handover', 'handover'], 'each follower reached the successor over its standby link');
    });

    it('SIGTERM on the owner hands over gracefully and the process exits 0', async () => {
      cluster = await Cluster.create(['--transport', transport]);
      for (let i = 0; i < 4; i++) cluster.start();
      const owner = await cluster.waitSettled();
      owner.proc.child.kill('SIGTERM');
      assert.equal(await owner.proc.exited, 0);
      const next = await cluster.waitSettled(owner.epoch);
      assert.equal(next.epoch, owner.epoch + 1);
      // Graceful: the followers were told to leave (not broken sockets).
      const why = cluster.log.filter((l) => l.event === 'disconnected' && l.epoch === owner.epoch).map((l) => l.why);
      assert.ok(why.length >= 3 && why.every((w) => w === 'leaving'), `disconnect reasons: ${why}`);
      assert.deepEqual(cluster.doubleOwners(), []);
      // The successor reports owning, never following itself on the way.
      const selfFollow = next.proc.lines.filter((l) => l.event === 'role' && l.role === 'follower' && l.ownerId === l.instanceId);
      assert.deepEqual(selfFollow, []);
    });
  });
}

describe('instances', () => {
  it('during an update, the owner steps down to the first instance of a newer app version, and follows it', async () => {
    cluster = await Cluster.create(['--ttl', '2000']);
    const owner = cluster.start(['--app-version', '1.4.0']);
    await cluster.waitSettled();
    const other = cluster.start(['--app-version', '1.4.0']);
    await cluster.waitSettled();
    owner.proc.send(JSON.stringify({ op: 'increment', id: 1, path: 'n' }));
    other.proc.send(JSON.stringify({ op: 'increment', id: 1, path: 'n' }));
    await owner.proc.waitFor((l) => l.event === 'ack' && l.id === 1);
    await other.proc.waitFor((l) => l.event === 'ack' && l.id === 1);
    const updated = cluster.start(['--app-version', '1.5.0']);
    // No one closes: the 1.4.0 owner hands over by itself, and the two 1.4.0 instances follow the new owner.
    const next = await cluster.waitSettled(owner.epoch, 15_000);
    assert.equal(next, updated, 'the 1.5.0 instance owns');
    assert.equal(owner.proc.child.exitCode, null, 'the old owner is still running, as a follower');
    assert.ok(owner.proc.lines.some((l) => l.event === 'role' && l.role === 'follower' && l.epoch === next.epoch));
    assert.equal(owner.proc.lines.filter((l) => l.event === 'lost').length, 0, 'a step-down is no lost lease');
    // Mutations from every side, before and after, each applied once.
    owner.proc.send(JSON.stringify({ op: 'increment', id: 2, path: 'n' }));
    await owner.proc.waitFor((l) => l.event === 'ack' && l.id === 2);
    updated.proc.send(JSON.stringify({ op: 'get', id: 3 }));
    assert.deepEqual((await updated.proc.waitFor((l) => l.event === 'state' && l.id === 3)).state, { n: 3 });
    // It stays: a 1.4.0 joining later is not a reason to hand back.
    cluster.start(['--app-version', '1.4.0']);
    await delay(1000);
    assert.equal(cluster.settled(next.epoch - 1), updated);
    assert.deepEqual(cluster.doubleOwners(), []);
  });

  it('an update that raises the state version: the newer build migrates, the older instances are told to restart', async () => {
    cluster = await Cluster.create(['--ttl', '2000']);
    const owner = cluster.start(['--app-version', '1.4.0', '--state-version', '1']);
    await cluster.waitSettled();
    const old = cluster.start(['--app-version', '1.4.0', '--state-version', '1']);
    await cluster.waitSettled();
    owner.proc.send(JSON.stringify({ op: 'set', id: 1, path: 'n', value: 7 }));
    await owner.proc.waitFor((l) => l.event === 'ack' && l.id === 1);
    // The update: the 1.4.0 owner steps down to it, it migrates, and neither 1.4.0 can follow the result.
    const updated = cluster.start(['--app-version', '1.5.0', '--state-version', '2']);
    await updated.proc.waitFor((l) => l.event === 'role' && l.role === 'owner', 15_000);
    for (const m of [owner, old]) {
      const stopped = await m.proc.waitFor((l) => l.event === 'role' && l.role === 'failed', 10_000);
      assert.equal(stopped.code, 'EOUTDATED', m.name);
      assert.equal(stopped.field, 'stateVersion');
      assert.match(String(stopped.message), /restart the app to update it/);
    }
    // A 1.4.0 launched now stops at once, from the owner's welcome; the state is the one written before.
    const late = cluster.start(['--app-version', '1.4.0', '--state-version', '1']);
    assert.equal((await late.proc.waitFor((l) => l.event === 'role' && l.role === 'failed', 10_000)).code, 'EOUTDATED');
    updated.proc.send(JSON.stringify({ op: 'get', id: 2 }));
    const got = await updated.proc.waitFor((l) => l.event === 'state' && l.id === 2);
    assert.deepEqual(got.state, { n: 7 });
    assert.deepEqual(cluster.doubleOwners(), []);
  });

  it('two builds of different protocol versions: the older follower stops (EOUTDATED), the newer one waits, then owns', async () => {
    // The other build: this command with PROTOCOL_VERSION raised by one, as a newer release would have it.
    const dir = await tempRoot('leasehold-build-');
    try {
      mkdirSync(joinPath(dir.dir, 'bin'));
      mkdirSync(joinPath(dir.dir, 'out'));
      for (const f of ['leasehold.cjs', 'bundle-loader.cjs']) copyFileSync(outPath(`../../../bin/${f}`), joinPath(dir.dir, 'bin', f));
      const bundle = readFileSync(outPath('../../cli.cjs'), 'utf8');
      const patched = bundle.replace(
        /PROTOCOL_VERSION ?= ?(\d+)([;,])/,
        (_, n: string, end: string) => `PROTOCOL_VERSION=${Number(n) + 1}${end}`,
      );
      assert.notEqual(patched, bundle, 'the bundle defines PROTOCOL_VERSION');
      writeFileSync(joinPath(dir.dir, 'out', 'cli.cjs'), patched);
      const newer = joinPath(dir.dir, 'bin', 'leasehold.cjs');
      assert.notEqual(newer, BIN);

      cluster = await Cluster.create(['--ttl', '2000']);
      const old = cluster.start(['--app-version', '1.4.0']);
      await cluster.waitSettled();
      const next = cluster.start(['--app-version', '1.5.0'], { bin: newer });
      await next.proc.waitFor((l) => l.event === 'role' && l.role === 'follower');
      await delay(1000);
      assert.equal(next.proc.lines.filter((l) => l.event === 'connected').length, 0, 'it never follows the older owner');
      assert.equal(old.role, 'owner');
      old.proc.child.kill('SIGTERM');
      assert.equal(await old.proc.exited, 0);
      await next.proc.waitFor((l) => l.event === 'role' && l.role === 'owner', 10_000);
      // An instance of the older build now stops with the reason, instead of retrying forever.
      const late = cluster.start(['--app-version', '1.4.0']);
      const stopped = await late.proc.waitFor((l) => l.event === 'role' && l.role === 'failed', 10_000);
      assert.equal(stopped.code, 'EOUTDATED');
      assert.equal(stopped.field, 'protocol');
      assert.deepEqual(cluster.doubleOwners(), []);
    } finally {
      await dir.remove();
    }
  });

  it('closing stdin hands over too', async () => {
    cluster = await Cluster.create();
    const a = cluster.start();
    cluster.start();
    await cluster.waitSettled();
    const owner = cluster.owners()[0]!;
    owner.proc.child.stdin!.end();
    assert.equal(await owner.proc.exited, 0);
    await cluster.waitSettled(owner.epoch);
    void a;
  });

  it('SIGSTOP on the owner: deposed within the ttl; after SIGCONT it reports follower and never serves again', async () => {
    const ttl = 1000;
    cluster = await Cluster.create(['--ttl', String(ttl)]);
    for (let i = 0; i < 3; i++) cluster.start();
    const owner = await cluster.waitSettled();
    const firstEpoch = owner.epoch;
    const stoppedAt = Date.now();
    owner.proc.child.kill('SIGSTOP');
    // The others elect a new owner (the stopped one cannot report anything).
    const deadline = Date.now() + ttl * 3;
    let next;
    while (!next) {
      next = cluster.live().find((m) => m !== owner && m.role === 'owner' && m.epoch > firstEpoch);
      assert.ok(Date.now() < deadline, 'no new owner while the old one is stopped');
      await delay(5);
    }
    const tookMs = Date.now() - stoppedAt;
    assert.ok(tookMs < ttl + ttl / 3 + 500, `took over after ${tookMs} ms`);
    const lines = owner.proc.lines.length;
    owner.proc.child.kill('SIGCONT');
    await owner.proc.waitFor((l) => l.event === 'lost' && owner.proc.lines.indexOf(l) >= lines, 5000);
    await owner.proc.waitFor((l) => l.event === 'role' && l.role === 'follower' && owner.proc.lines.indexOf(l) >= lines, 5000);
    await cluster.waitSettled(firstEpoch);
    assert.equal(cluster.owners().length, 1);
    assert.notEqual(cluster.owners()[0], owner);
    assert.deepEqual(owner.ownedEpochs, [firstEpoch], 'the deposed owner never owned again');
    assert.deepEqual(cluster.doubleOwners(), []);
  });

  it('an owner stopped past its ttl with a follower acknowledges nothing on waking; durable: false writes then land once', async () => {
    const ttl = 1000;
    cluster = await Cluster.create(['--ttl', String(ttl)]);
    for (let i = 0; i < 3; i++) cluster.start();
    const a = await cluster.waitSettled();
    const [b, c] = cluster.live().filter((m) => m !== a) as [Member, Member];
    const first = a.epoch;
    a.proc.child.kill('SIGSTOP');
    b.proc.child.kill('SIGSTOP');
    await c.proc.waitFor((l) => l.event === 'role' && l.role === 'owner' && Number(l.epoch) > first, ttl * 4);
    const from = a.proc.lines.length;
    // Read by each at once on waking, before any of its timers runs.
    a.proc.send(JSON.stringify({ op: 'push', path: 'log', value: 'x', id: 'x', durable: false }));
    b.proc.send(JSON.stringify({ op: 'push', path: 'log', value: 'y', id: 'y', durable: false }));
    a.proc.child.kill('SIGCONT');
    b.proc.child.kill('SIGCONT');
    const ackX = await a.proc.waitFor((l) => l.event === 'ack' && l.id === 'x', 5000);
    await b.proc.waitFor((l) => l.event === 'ack' && l.id === 'y', 5000);
    const lost = a.proc.lines.findIndex((l, i) => i >= from && l.event === 'lost');
    assert.ok(lost >= 0 && lost < a.proc.lines.indexOf(ackX), 'the deposed owner acknowledged nothing: x was acknowledged after its loss');
    await cluster.waitSettled(first);
    const states = await Promise.all(
      [a, b, c].map(async (m) => {
        for (;;) {
          const id = `get-${Math.random()}`;
          m.proc.send(JSON.stringify({ op: 'get', id }));
          const s = (await m.proc.waitFor((l) => l.event === 'state' && l.id === id)) as { state: { log?: string[] } };
          if ((s.state.log ?? []).length >= 2) return s.state.log!;
          await delay(20);
        }
      }),
    );
    for (const log of states) assert.deepEqual([...log].sort(), ['x', 'y'], 'each once, everywhere');
    assert.deepEqual(cluster.doubleOwners(), []);
  });

  it('an owner that only looked hung (stopped for longer than the heartbeat, not the ttl) is rejoined, and serves', async () => {
    // ttl 6000: followers ping every 1000 ms and call the owner hung after a silent interval; the owner is
    // resumed as soon as that happens (≈ 2 s, well inside its lease) and keeps renewing. The follower must
    // come back to it (it used to wait for a record change that never came).
    cluster = await Cluster.create(['--ttl', '6000']);
    cluster.start();
    cluster.start();
    const owner = await cluster.waitSettled();
    const f = cluster.live().find((m) => m !== owner)!;
    const from = f.proc.lines.length;
    owner.proc.child.kill('SIGSTOP');
    await f.proc.waitFor((l) => l.event === 'disconnected' && l.why === 'hung' && f.proc.lines.indexOf(l) >= from, 5000);
    owner.proc.child.kill('SIGCONT');
    const back = await f.proc.waitFor((l) => l.event === 'connected' && f.proc.lines.indexOf(l) >= from, 15_000);
    assert.equal(back.epoch, owner.epoch, 'the same owner, still holding its lease');
    f.proc.send(JSON.stringify({ op: 'set', path: 'after', value: 1, id: 'x' }));
    const ack = await f.proc.waitFor((l) => l.event === 'ack' && l.id === 'x', 5000);
    assert.ok(Number(ack.version) >= 1);
    assert.deepEqual(owner.ownedEpochs, [owner.epoch]);
    assert.deepEqual(cluster.doubleOwners(), []);
  });

  it('refuses a raw ws client without the secret (HTTP 401) and any browser Origin (HTTP 403)', async () => {
    cluster = await Cluster.create();
    cluster.start();
    const owner = await cluster.waitSettled();
    const store = new FileLeaseStore({ dataRoot: cluster.dataRoot });
    const rec = (await store.inspect('/app/leasehold/owner'))!;
    const endpoint = rec.meta.endpoint as string;
    const secret = rec.meta.secret as string;
    const attempt = (headers: Record<string, string>) =>
      new Promise<{ code?: number; status?: number }>((resolve) => {
        const ws = new WebSocket(endpoint, { headers });
        ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
        ws.on('close', (code) => resolve({ code }));
        ws.on('error', () => undefined);
      });
    assert.deepEqual(await attempt({}), { status: 401 });
    assert.deepEqual(await attempt({ authorization: 'Bearer wrong' }), { status: 401 });
    assert.deepEqual(await attempt({ authorization: `Bearer ${secret}`, origin: 'https://evil.example' }), { status: 403 });
    assert.deepEqual(await attempt({ authorization: `Bearer ${secret}`, origin: 'null' }), { status: 403 });
    // The right secret without hello, then garbage: closed with 4000 and the owner keeps serving.
    const bad = await new Promise<number>((resolve) => {
      const ws = new WebSocket(endpoint, { headers: { authorization: `Bearer ${secret}` } });
      ws.on('open', () => ws.send('{"t":"nope"'));
      ws.on('close', (code) => resolve(code));
    });
    assert.equal(bad, 4000);
    assert.equal(cluster.settled(), owner);
    // The secret is in the 0600 record only: never in the instance's output.
    for (const line of owner.proc.lines) assert.ok(!JSON.stringify(line).includes(secret));
    assert.ok(readFileSync(store.recordPath('/app/leasehold/owner'), 'utf8').includes(secret));
  });

  it('50 rounds of random owner kills never show two owners in one epoch', async () => {
    const seed = Number(process.env.LEASEHOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
    let s = seed;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    cluster = await Cluster.create(['--ttl', '1500']);
    for (let i = 0; i < 4; i++) cluster.start();
    let owner = await cluster.waitSettled();
    for (let round = 0; round < 50; round++) {
      const sig = rand() < 0.7 ? 'SIGKILL' : 'SIGTERM';
      owner.proc.child.kill(sig);
      await owner.proc.exited;
      cluster.start();
      owner = await cluster.waitSettled(owner.epoch);
    }
    assert.deepEqual(cluster.doubleOwners(), [], `seed ${seed}`);
    const epochs = cluster.members.flatMap((m) => m.ownedEpochs).sort((a, b) => a - b);
    assert.equal(epochs.length, 51, `seed ${seed}: 51 ownerships`);
    assert.deepEqual(epochs, [...new Set(epochs)], `seed ${seed}: epochs unique`);
  });
});
