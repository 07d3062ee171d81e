/**
 * The role state machine in one process: MemoryLeaseStore (shared, like a data root) and real loopback
 * sockets, so each case takes milliseconds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, toHolder, type Instance, type InstanceEvent } from '../../src/instance/instance.js';
import { internals } from '../../src/internals.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { LeaseholdError } from '../../src/errors.js';
import { tempRoot, until, delay } from '../helpers.js';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { Journal, frame, parseFrames, type Entry } from '../../src/state/journal/index.js';
import { stateDir } from '../../src/state/owner-handler.js';
import { repair } from '../../src/state/damage.js';
import { LeaseKey } from '../../src/lease/key.js';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../../src/transport/protocol.js';

async function cluster(n: number, ttlMs = 1000) {
  const root = await tempRoot();
  const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
  const events: (InstanceEvent & { who: number })[] = [];
  const instances: Instance[] = [];
  const stores: MemoryLeaseStore[] = [];
  for (let i = 0; i < n; i++) {
    const store = new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 });
    stores.push(store);
    const inst = join({ dataRoot: root.dir, ttlMs, name: `m${i}`, store });
    inst.subscribe((e) => events.push({ ...e, who: i }));
    instances.push(inst);
    await (i === 0 ? inst.whenOwner() : inst.whenConnected());
  }
  return {
    instances,
    stores,
    events,
    shared,
    done: async () => {
      await Promise.all(instances.map((i) => i.close()));
      await root.remove();
    },
  };
}

describe('join()', () => {
  it('elects one owner; the others connect as followers and see the same holder and presence', async () => {
    const c = await cluster(3);
    try {
      const [a, b, d] = c.instances as [Instance, Instance, Instance];
      assert.equal(a.role, 'owner');
      assert.equal(b.role, 'follower');
      assert.equal(d.role, 'follower');
      assert.equal(b.holder?.instanceId, a.instanceId);
      assert.equal(b.epoch, a.epoch);
      assert.equal(b.endpoint, a.endpoint);
      assert.match(a.endpoint!, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
      await until(() => a.instances.length === 3 && b.instances.length === 3 && d.instances.length === 3, 2000, 'presence of 3');
      assert.deepEqual(new Set(b.instances.map((i) => i.name)), new Set(['m0', 'm1', 'm2']));
      assert.ok(!('secret' in (b.holder as object)), 'holder has no secret');
      assert.ok(!JSON.stringify(b.holder).includes(String((await c.shared.inspect(a.key))!.meta.secret)));
    } finally {
      await c.done();
    }
  });

  it('close() hands over to the longest-connected follower, which everyone then follows', async () => {
    const c = await cluster(3);
    try {
      const [a, b, d] = c.instances as [Instance, Instance, Instance];
      const epoch = a.epoch;
      await until(() => internals(a).handover?.standbyReady, 2000, 'the successor stands by');
      let inspected = 0;
      const dStore = c.stores[2]!;
      const inspect = dStore.inspect.bind(dStore);
      dStore.inspect = (...args) => (inspected++, inspect(...args));
      await a.close();
      await a.close(); // idempotent
      assert.equal(a.role, 'closed');
      await b.whenOwner();
      assert.equal(b.epoch, epoch + 1);
      await until(() => d.role === 'follower' && d.connected && d.epoch === b.epoch, 2000, 'd follows b');
      assert.ok(c.events.some((e) => e.who === 2 && e.type === 'disconnected' && e.why === 'leaving'));
      // d had connected to b in advance (b was the designated successor): no new handshake, no record read.
      const reconnect = c.events.find((e) => e.who === 2 && e.type === 'connected' && e.epoch === b.epoch);
      assert.equal(reconnect?.type === 'connected' && reconnect.via, 'handover');
      // b's record came with its welcome: the same holder as the store's, without secrets.
      assert.equal(inspected, 0, 'd did not read the record');
      const record = (await c.shared.inspect(b.key))!;
      const { renewedAt: _r, ...holder } = d.holder!;
      const { renewedAt: _s, ...stored } = toHolder(record);
      assert.deepEqual(holder, stored);
      assert.ok(!JSON.stringify(d.holder).includes(String(record.meta.secret)));
      const roles = c.events.filter((e) => e.type === 'role-change' && e.who === 1).map((e) => (e as { role: string }).role);
      assert.deepEqual(roles, ['follower', 'owner']);
      await assert.rejects(a.whenOwner(), (e) => e instanceof LeaseholdError && e.code === 'ECLOSED');
    } finally {
      await c.done();
    }
  });

  it('close() tells the successor first; the others leave on its welcome, and one without a standby link is told later', async () => {
    const c = await cluster(3);
    try {
      const [a, b, d] = c.instances as [Instance, Instance, Instance];
      await until(() => internals(a).handover?.standbyReady, 2000, 'the successor stands by');
      // A follower that never prepares a standby link (a raw client).
      const secret = String((await c.shared.inspect(a.key))!.meta.secret);
      const raw = new WebSocket(a.endpoint!, { headers: { authorization: `Bearer ${secret}` }, perMessageDeflate: false });
      const frames: { t: string; at: number }[] = [];
      raw.on('message', (data) => frames.push({ t: (JSON.parse(String(data)) as { t: string }).t, at: performance.now() }));
      await new Promise((resolve) => raw.once('open', resolve));
      raw.send(JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: a.epoch, instanceId: 'raw-follower', name: 'raw', pid: 1 }));
      await until(() => frames.some((f) => f.t === 'welcome'), 2000, 'the raw follower is welcomed');
      const closedAt = new Promise<number>((resolve) => raw.once('close', () => resolve(performance.now())));
      const from = c.events.length;
      let dConnectedAt = Infinity;
      d.subscribe((e) => {
        if (e.type === 'connected') dConnectedAt = Math.min(dConnectedAt, performance.now());
      });
      const t0 = performance.now();
      await a.close();
      await until(() => d.connected && d.epoch === b.epoch && b.role === 'owner', 2000, 'd follows b');
      const after = c.events.slice(from);
      const left = after.find((e) => e.who === 2 && e.type === 'disconnected');
      assert.equal(left?.type === 'disconnected' && left.why, 'leaving');
      const reconnect = after.find((e) => e.who === 2 && e.type === 'connected');
      assert.equal(reconnect?.type === 'connected' && reconnect.via, 'handover');
      // The raw follower is told and closed (4005) only once d has gone over to b (d was not woken by the
      // old owner while b took over), and without waiting for the raw one to leave by itself.
      const leaving = frames.find((f) => f.t === 'leaving');
      assert.ok(leaving, 'the raw follower was told');
      assert.ok(leaving.at > dConnectedAt, 'the others were told after d connected to the successor');
      assert.ok((await closedAt) - t0 < 1000, 'and closed within the linger bound');
    } finally {
      await c.done();
    }
  });

  it('close() commits what it already acknowledged before it lets the successor read the journal', async () => {
    const c = await cluster(2);
    try {
      const [a, b] = c.instances as [Instance, Instance];
      // Acknowledged at once (durable: false); their journal group waits a little for more before its sync.
      const versions = await Promise.all(Array.from({ length: 5 }, (_, i) => a.state.push('log', `a${i}`, { durable: false })));
      await a.close();
      await b.whenOwner();
      assert.deepEqual((b.state.get() as { log?: string[] }).log, ['a0', 'a1', 'a2', 'a3', 'a4']);
      assert.equal(b.state.version, Math.max(...versions));
    } finally {
      await c.done();
    }
  });

  it('a deposed owner (lease lost) stops serving and becomes a follower', async () => {
    const c = await cluster(2, 400);
    try {
      const [a, b] = c.instances as [Instance, Instance];
      // Steal the lease from under a: its renewal sees a newer epoch.
      const lease = internals(a).lease!;
      c.shared.simulateCrash(a.instanceId);
      const lost = new Promise<InstanceEvent>((r) => a.on('lost', r));
      const theirs = await c.shared.acquire(a.key, { ttlMs: 400, instanceId: 'thief', meta: {} });
      const e = (await lost) as Extract<InstanceEvent, { type: 'lost' }>;
      assert.equal(e.reason, 'superseded');
      assert.equal(lease.lost.aborted, true);
      assert.equal(internals(a).server, undefined);
      await theirs.release();
      await until(() => (a.role === 'owner' || b.role === 'owner') && a.epoch > theirs.epoch, 3000, 'a new owner after the thief');
    } finally {
      await c.done();
    }
  });

  it('an owner that loses its lease and owns again reports the new epoch as a role change', async () => {
    const c = await cluster(1, 400);
    try {
      const [a] = c.instances as [Instance];
      c.shared.simulateCrash(a.instanceId);
      const lost = new Promise<InstanceEvent>((r) => a.on('lost', r));
      const theirs = await c.shared.acquire(a.key, { ttlMs: 400, instanceId: 'thief', meta: {} });
      await lost;
      await theirs.release();
      await until(() => a.role === 'owner' && a.epoch > theirs.epoch, 3000, 'a owns again');
      const roles = c.events
        .filter((e) => e.type === 'role-change')
        .map((e) => `${(e as { role: string }).role}@${e.type === 'role-change' ? e.epoch : 0}`);
      assert.deepEqual(roles, ['owner@1', `owner@${a.epoch}`]);
    } finally {
      await c.done();
    }
  });

  it('validates options with EINVALIDCONFIG naming the field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{}, 'dataRoot'],
      [{ dataRoot: '/tmp', ttlMs: 10 }, 'ttlMs'],
      [{ dataRoot: '/tmp', transport: 'udp' }, 'transport'],
      [{ dataRoot: '/tmp', ttlMs: 1000, heartbeatIntervalMs: 600 }, 'heartbeatIntervalMs'],
      [{ dataRoot: '/tmp', maxPayload: 5 }, 'maxPayload'],
      [{ dataRoot: '/tmp', snapshotEvery: 0 }, 'snapshotEvery'],
      [{ dataRoot: '/tmp', snapshotEvery: 1.5 }, 'snapshotEvery'],
    ];
    for (const [opts, field] of bad)
      assert.throws(
        () => join(opts as never),
        (e) => e instanceof LeaseholdError && e.code === 'EINVALIDCONFIG' && e.field === field,
        field,
      );
    assert.throws(
      () => join({ dataRoot: '/tmp', key: '/bad key' }),
      (e) => e instanceof LeaseholdError && e.code === 'EINVALIDKEY',
    );
  });

  it('whenOwner honours its AbortSignal; the signal option closes the instance', async () => {
    const c = await cluster(2);
    try {
      const b = c.instances[1]!;
      const ac = new AbortController();
      const w = b.whenOwner({ signal: ac.signal });
      ac.abort(new Error('enough'));
      await assert.rejects(w, /enough/);
      const root = await tempRoot();
      const stop = new AbortController();
      const solo = join({ dataRoot: root.dir, signal: stop.signal, store: new MemoryLeaseStore() });
      await solo.whenOwner();
      stop.abort();
      await until(() => solo.role === 'closed', 2000, 'closed by signal');
      await root.remove();
    } finally {
      await c.done();
    }
  });

  it('a follower whose replica differs from the owner at the same version is resynced with a snapshot', async () => {
    const c = await cluster(2);
    try {
      const [a, b] = c.instances as [Instance, Instance];
      for (let i = 0; i < 3; i++) await a.state.push('log', `a${i}`);
      await until(() => b.state.version === a.state.version, 2000, 'b caught up');
      const v = a.state.version;
      assert.deepEqual(internals(b).replica.lastId, [a.instanceId, 3]);
      // Make b's change v come from another history (as after an owner whose commits its successor lost).
      const before = b.state.get() as { log: string[] };
      internals(b).replica.snapshot(v - 1, { log: before.log.slice(0, -1) });
      internals(b).replica.change(v, { op: 'push', path: 'log', value: 'elsewhere' }, ['someone-else', 1]);
      assert.notDeepEqual(b.state.get(), a.state.get());
      const from = c.events.length;
      internals(b).link!.drop();
      await until(() => c.events.slice(from).some((e) => e.who === 1 && e.type === 'connected'), 5000, 'b reconnects');
      await until(() => JSON.stringify(b.state.get()) === JSON.stringify(a.state.get()), 2000, 'b resynced');
      assert.equal(b.state.version, v);
    } finally {
      await c.done();
    }
  });

  it("a follower that takes over starts from its replica (the snapshot's state unread), a cold start from the snapshot", async () => {
    const root = await tempRoot();
    const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
    const make = () => join({ dataRoot: root.dir, snapshotEvery: 100, store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }) });
    const all: Instance[] = [];
    try {
      const first = make();
      all.push(first);
      await first.whenOwner();
      await Promise.all(Array.from({ length: 150 }, (_, i) => first.state.set(`k${i % 20}`, i)));
      const snapshots = async () =>
        (await readdir(root.dir, { recursive: true })).filter((n) => /snapshot-\d+\.json$/.test(n)).sort((x, y) => (x < y ? -1 : 1));
      await until(async () => (await snapshots()).length > 0, 5000, 'a snapshot');
      await first.close();
      // The next owner recovered the entries after the snapshot only: b, joining, gets a snapshot of the
      // state, whose end names the change it is at.
      const a = make();
      all.push(a);
      await a.whenOwner();
      const b = make();
      all.push(b);
      await b.whenConnected();
      await b.state.whenSynced();
      assert.equal(b.state.version, 150);
      assert.deepEqual(internals(b).replica.lastId, [first.instanceId, 150]);
      const truth = a.state.get();
      // Forge the newest snapshot (a valid record, another state): only a recovery that reads its state sees it.
      const newest = joinPath(root.dir, (await snapshots()).at(-1)!);
      const record = parseFrames(await readFile(newest)).records[0]!.value;
      await writeFile(newest, frame({ ...record, state: { forged: true } }));
      await a.close();
      await b.whenOwner();
      assert.deepEqual(b.state.get(), truth, "b's state is its replica, not the forged snapshot");
      assert.equal(b.state.version, 150);
      await b.close();
      const c = make();
      all.push(c);
      await c.whenOwner();
      assert.equal((c.state.get() as { forged?: boolean }).forged, true, 'a cold start reads the snapshot');
    } finally {
      await Promise.all(all.map((i) => i.close()));
      await root.remove();
    }
  });

  it('a lease or state directory refused by the disk (EIO) is an error event and a back-off: no crash, no epoch burnt', async () => {
    for (const refusedDir of [
      ['leasehold', 'leases', 'app', 'files'],
      ['leasehold', 'state', 'app'],
    ]) {
      const root = await tempRoot();
      const dir = joinPath(root.dir, ...refusedDir);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o770);
      const inst = join({ dataRoot: root.dir, key: '/app/files/owner', ttlMs: 1000 });
      const errors: LeaseholdError[] = [];
      inst.subscribe((e) => e.type === 'error' && errors.push(e.error));
      try {
        await until(() => errors.length >= 2, 3000, 'two refusals, one back-off apart');
        for (const e of errors) {
          assert.equal(e.code, 'EIO');
          assert.equal(e.path, dir);
          assert.match(e.message, /writable by group or others \(mode 0770\)/);
        }
        assert.notEqual(inst.role, 'closed');
        const epochs = joinPath(root.dir, 'leasehold', 'leases', 'app', 'files', 'owner', 'epochs');
        assert.deepEqual(await readdir(epochs).catch(() => []), [], `no epoch claimed while ${dir} is refused`);
        await chmod(dir, 0o700);
        await inst.whenOwner();
        assert.equal(inst.epoch, 1);
      } finally {
        await inst.close();
        await root.remove();
      }
    }
  });

  it('close() during start-up leaves no listener behind (the process can exit)', async () => {
    const root = await tempRoot();
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = servers();
    try {
      for (let i = 0; i < 5; i++) {
        const inst = join({ dataRoot: root.dir, ttlMs: 1000 });
        if (i > 0) await delay(i); // at different points of contending
        await inst.close();
        assert.equal(inst.role, 'closed');
        // (A closed server's handle is released by libuv a turn after its 'close' event.)
        await until(() => servers() === before, 1000, `round ${i}: no listener left open`);
      }
    } finally {
      await root.remove();
    }
  });

  it('a damaged journal: every instance stops in role failed naming file and offset, claims at most one epoch, and owns again after the repair', async () => {
    const root = await tempRoot();
    const dir = stateDir(root.dir, LeaseKey.forApp('leasehold').pathSegments());
    const entry = (v: number): Entry => ({ t: 'm', v, e: 1, id: null, m: { op: 'push', path: 'log', value: v } });
    const { journal } = await Journal.open({ dir, epoch: 1, guard: () => undefined });
    for (let v = 1; v <= 5; v++) await journal.appendEntry(entry(v));
    await journal.close();
    // A byte inside entry 3, with entries 4 and 5 after it: damage, not a torn tail.
    const buf = await readFile(journal.path);
    const offset = parseFrames(buf).records[3]!.offset;
    buf[offset + 12] = buf[offset + 12]! ^ 0xff;
    await writeFile(journal.path, buf);

    const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
    let acquired = 0;
    const events: (InstanceEvent & { who: number })[] = [];
    const instances = [0, 1, 2].map((i) => {
      const store = new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 });
      const acquire = store.acquire.bind(store);
      store.acquire = async (...args) => {
        const lease = await acquire(...args);
        acquired++;
        return lease;
      };
      const inst = join({ dataRoot: root.dir, ttlMs: 1000, name: `m${i}`, store });
      inst.subscribe((e) => events.push({ ...e, who: i }));
      return inst;
    });
    try {
      await until(() => instances.every((i) => i.role === 'failed'), 5000, 'every instance in role failed');
      const names = (e: unknown) => e instanceof LeaseholdError && e.code === 'ECORRUPT' && e.path === journal.path && e.offset === offset;
      for (const [who, inst] of instances.entries()) {
        assert.ok(names(inst.failure), `m${who}: ${inst.failure?.message}`);
        assert.ok(inst.failure!.message.includes(`${journal.path} is damaged at offset ${offset}`), inst.failure!.message);
        assert.match(inst.failure!.message, /leasehold repair/);
        await assert.rejects(inst.whenOwner(), names);
        await assert.rejects(inst.whenConnected(), names);
        await assert.rejects(inst.state.set('x', 1), names, 'a mutation is refused at once, not queued until EFULL');
        assert.ok(
          events.some((e) => e.who === who && e.type === 'error' && names(e.error)),
          `m${who}: an error event`,
        );
        assert.ok(events.some((e) => e.who === who && e.type === 'role-change' && e.role === 'failed' && names(e.error)));
      }
      assert.ok(acquired >= 1 && acquired <= 3, `${acquired} epochs claimed`);
      // Staying there claims nothing more.
      const settled = acquired;
      await delay(300);
      assert.equal(acquired, settled, 'epochs claimed while failed');
      assert.equal((await shared.describe(instances[0]!.key)).state, 'free');

      // The repair keeps entries 1 and 2; the instances notice and one of them owns.
      const result = await repair(dir);
      assert.equal(result.version, 2);
      assert.equal(result.markerRemoved, true);
      await until(
        () => instances.filter((i) => i.role === 'owner').length === 1 && instances.every((i) => i.connected),
        5000,
        'owning again',
      );
      for (const inst of instances) {
        assert.equal(inst.failure, undefined);
        await until(() => inst.state.version === 2, 2000, 'the good prefix');
        assert.deepEqual(inst.state.get(), { log: [1, 2] });
      }
      assert.equal(acquired, settled + 1, 'one epoch for the owner after the repair');
    } finally {
      await Promise.all(instances.map((i) => i.close()));
      await root.remove();
    }
  });
});
