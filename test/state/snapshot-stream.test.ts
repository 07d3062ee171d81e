/**
 * Joining a large state over real sockets: the owner streams the snapshot in parts, keeps serving others
 * meanwhile, holds only a few MiB for a follower that reads slowly, stops a stream whose follower left,
 * and sends the changes committed meanwhile after the snapshot, in order. Raw ws clients stand in for
 * followers where every frame must be seen; `join()` followers where the whole path counts. A follower
 * that must not read its whole snapshot while paused talks over a Unix socket (loopback TCP buffers can
 * take tens of MiB).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { WebSocket } from 'ws';
import { join, type Instance } from '../../src/instance/instance.js';
import { systemClock } from '../../src/clock.js';
import { LeaseKey } from '../../src/lease/key.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { FollowerLink } from '../../src/transport/client.js';
import { OwnerServer, type Peer } from '../../src/transport/server.js';
import { apply, type Doc, type Json, type Mutation } from '../../src/state/document.js';
import { view } from '../../src/state/wide-object.js';
import { writeSnapshot } from '../../src/state/journal/compaction.js';
import { prepareJournalDir } from '../../src/state/journal/index.js';
import { startOwnerState, stateDir } from '../../src/state/owner-handler.js';
import { SharedState } from '../../src/state/shared-state.js';
import { PROTOCOL_VERSION } from '../../src/transport/protocol.js';
import { delay, suiteRoots, until } from '../helpers.js';

type Msg = { t: string; [k: string]: unknown };
const MiB = 2 ** 20;
const KEY = LeaseKey.forApp('leasehold');
const SECRET = 'stream-test-secret-0123456789abcdef';

/** About `chars` characters of JSON: many small objects (escapes, non-ASCII, surrogate pairs) and one long string. */
function bigState(chars: number): Json {
  const items: Record<string, Json> = {};
  let n = 0;
  for (let i = 0; n < chars; i++) {
    const item = { name: `item ${i} ünï 😀`, n: i, tags: ['a', 'q"\\', String(i)], body: { text: 'x'.repeat(200 + (i % 50)) } };
    items[`k${i}`] = item;
    n += 300 + (i % 50);
  }
  return { items, long: `${'y'.repeat(300_000)}😀${'z'.repeat(300_000)}` };
}

/** The state directory of `root` holding a snapshot of `state` at `version`, as a previous owner left it. */
async function seed(root: string, state: Json, version = 1): Promise<void> {
  const dir = stateDir(root, KEY.pathSegments());
  prepareJournalDir(dir, root);
  await writeSnapshot({ dir, fs: nodeFs, clock: systemClock, guard: () => undefined, snapshot: { version, epoch: 0, stateVersion: 0, state, dedup: {} } });
}

/** Everything every raw follower received, in the order this process read it. */
type Log = { who: string; m: Msg; bytes: number }[];

async function rawFollower(endpoint: string, secret: string, id: string, log: Log) {
  const ws = new WebSocket(endpoint, { headers: { authorization: `Bearer ${secret}` }, perMessageDeflate: false });
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(String(d)) as Msg;
    for (const x of m.t === 'batch' ? (m.items as Msg[]) : [m]) log.push({ who: id, m: x, bytes: d.length });
  });
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 1, instanceId: id, name: id, pid: 1 }));
  const got = () => log.filter((e) => e.who === id).map((e) => e.m);
  const welcome = await until(() => got().find((m) => m.t === 'welcome'), 5000, `${id} welcomed`);
  const epoch = welcome.epoch as number;
  return { ws, got, epoch, send: (m: Record<string, unknown>) => ws.send(JSON.stringify({ ...m, epoch })) };
}

/** A raw follower that asked for everything (so a snapshot) and reads nothing until `ws.resume()`. */
async function pausedJoiner(endpoint: string, secret: string, id: string, log: Log) {
  const f = await rawFollower(endpoint, secret, id, log);
  f.ws.pause();
  f.send({ t: 'sync', since: 0 });
  return f;
}

/** The document a follower assembles from `got`'s parts, checking their order and end. */
function assembled(got: Msg[]): { v: number; state: Json; parts: number } {
  const parts = got.filter((m) => m.t === 'snapshot-part');
  const end = got.find((m) => m.t === 'snapshot-end');
  assert.ok(end, 'a snapshot-end');
  parts.forEach((p, i) => {
    assert.equal(p.i, i, 'parts in order');
    assert.equal(p.v, end.v, 'parts of one version');
  });
  assert.equal(end.parts, parts.length);
  const text = parts.map((p) => p.text as string).join('');
  assert.equal(end.chars, text.length);
  return { v: end.v as number, state: JSON.parse(text) as Json, parts: parts.length };
}

/** `p`, or a failure naming `what` after `ms` (a lost lease would leave writes waiting for the next owner). */
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, delay(ms).then(() => assert.fail(`timed out waiting for ${what}`))]);

const index = (log: Log, who: string, pred: (m: Msg) => boolean) => log.findIndex((e) => e.who === who && pred(e.m));

/** An owner started as join() does, with its server's peers visible. */
async function directOwner(root: string, state?: Json) {
  if (state !== undefined) await seed(root, state);
  const store = new MemoryLeaseStore();
  // A long ttl: a busy machine must not take the lease away in the middle of a test's flood of writes.
  const lease = await store.acquire(KEY, { ttlMs: 20_000 });
  const shared = new SharedState('owner');
  const handler = await startOwnerState({
    dir: stateDir(root, KEY.pathSegments()),
    base: root,
    epoch: lease.epoch,
    lease,
    shared,
    options: { maxValueBytes: 256 * 1024, maxFollowerBacklogBytes: 8 * MiB },
  });
  const server = await OwnerServer.listen({
    transport: 'ipc',
    root,
    instanceId: 'owner',
    name: 'owner',
    secret: SECRET,
    clock: systemClock,
  });
  const peers = new Map<string, Peer>();
  server.serve(
    lease.epoch,
    () => lease.check(),
    {
      ...handler,
      onMessage: (peer, m) => {
        peers.set(peer.info.instanceId, peer);
        handler.onMessage(peer, m);
      },
    },
    () => lease.record,
  );
  return {
    endpoint: server.endpoint,
    handler,
    shared,
    lease,
    peers,
    async close() {
      await server.close();
      await handler.close();
      await lease.release().catch(() => undefined);
      await store.close();
    },
  };
}

/** Owner and followers through join(), on one memory store. */
function cluster(root: string) {
  const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
  const made: Instance[] = [];
  return {
    shared,
    make(o: { ttlMs?: number; transport?: 'ipc' } = {}) {
      const i = join({ dataRoot: root, store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }), ...o });
      made.push(i);
      return i;
    },
    secret: async (owner: Instance) => String((await shared.inspect(owner.key))!.meta.secret),
    close: () => Promise.all(made.map((i) => i.close())),
  };
}

describe('snapshot streaming', () => {
  const newRoot = suiteRoots();

  it('streams a state of several MiB in parts under 1 MiB each, which followers join intact', async () => {
    const root = await newRoot();
    await seed(root, bigState(6 * MiB));
    const c = cluster(root);
    try {
      const owner = c.make();
      await within(owner.whenOwner(), 20_000, 'the owner');
      const follower = c.make();
      await within(follower.state.whenSynced(), 20_000, 'the follower synced');
      assert.equal(follower.state.version, owner.state.version);
      assert.deepEqual(follower.state.get(), owner.state.get());

      const log: Log = [];
      const raw = await rawFollower(owner.endpoint!, await c.secret(owner), 'raw', log);
      raw.send({ t: 'sync', since: 0 });
      await until(() => raw.got().some((m) => m.t === 'synced'), 10_000, 'synced');
      raw.ws.close();
      const got = assembled(raw.got());
      assert.ok(got.parts >= 20, `${got.parts} parts`);
      assert.deepEqual(got.state, owner.state.get());
      const biggest = Math.max(...log.filter((e) => e.m.t === 'snapshot-part').map((e) => e.bytes));
      assert.ok(biggest < MiB, `a part's frame of ${biggest} bytes`);
    } finally {
      await c.close();
    }
  });

  it("acknowledges another follower's mutation and renews the lease while a large snapshot streams, and sends the change after it", async () => {
    const root = await newRoot();
    await seed(root, bigState(8 * MiB));
    const c = cluster(root);
    const log: Log = [];
    try {
      const owner = c.make({ ttlMs: 3000, transport: 'ipc' });
      await within(owner.whenOwner(), 20_000, 'the owner');
      const secret = await c.secret(owner);
      const renewals = async () => (await c.shared.inspect(owner.key))!.renewals;
      // A reads nothing for now: its snapshot backs up in the sockets.
      const a = await pausedJoiner(owner.endpoint!, secret, 'a', log);
      const b = await rawFollower(owner.endpoint!, secret, 'b', log);
      b.send({ t: 'sync', since: owner.state.version });
      await until(() => b.got().some((m) => m.t === 'synced'), 5000, 'b synced');
      const before = await renewals();
      b.send({ t: 'mutate', seq: 1, m: { op: 'set', path: 'during', value: 'the stream' } });
      await until(() => b.got().some((m) => m.t === 'acks' || m.t === 'ack'), 5000, "b's ack");
      await until(async () => (await renewals()) >= before + 2, 5000, 'two renewals');
      a.ws.resume();
      await until(() => a.got().some((m) => m.t === 'synced'), 20_000, 'a synced');
      a.ws.close();
      b.ws.close();

      const ack = index(log, 'b', (m) => m.t === 'acks' || m.t === 'ack');
      const end = index(log, 'a', (m) => m.t === 'snapshot-end');
      assert.ok(ack >= 0 && end > ack, `b's ack (${ack}) came before a's last part (${end})`);
      // a: the parts, the end, then the change committed during the stream, then synced.
      const got = a.got().filter((m) => m.t !== 'welcome' && m.t !== 'presence' && m.t !== 'standby-request');
      const snap = assembled(got);
      const after = got.slice(got.findIndex((m) => m.t === 'snapshot-end') + 1);
      assert.deepEqual(
        after.map((m) => m.t),
        ['changes', 'synced'],
      );
      assert.equal(after[0]!.v, snap.v + 1);
      assert.deepEqual(after[0]!.ms, [{ op: 'set', path: 'during', value: 'the stream' }]);
      assert.equal(after[1]!.v, owner.state.version);
    } finally {
      await c.close();
    }
  });

  it('holds at most a few MiB for a follower that reads nothing, shares one serialization among followers that join together, and stops it when they leave', async () => {
    const o = await directOwner(await newRoot(), bigState(8 * MiB));
    const log: Log = [];
    try {
      const a = await pausedJoiner(o.endpoint, SECRET, 'a', log);
      const b = await pausedJoiner(o.endpoint, SECRET, 'b', log);
      await until(() => o.handler.streams.active.readers === 2, 5000, 'two streams');
      assert.deepEqual(o.handler.streams.active, { readers: 2, serializations: 1 });
      // A third follower's mutation is acknowledged meanwhile; by then the owner wrote what the sockets took.
      const w = await rawFollower(o.endpoint, SECRET, 'w', log);
      w.send({ t: 'mutate', seq: 1, m: { op: 'set', path: 'w', value: 1 } });
      await until(() => w.got().some((m) => m.t === 'acks'), 5000, "w's ack");
      await until(() => o.peers.get('a')!.bufferedAmount > 0, 5000, "a's socket full");
      for (const id of ['a', 'b']) {
        const buffered = o.peers.get(id)!.bufferedAmount;
        assert.ok(buffered < 2 * MiB, `${id}: ${buffered} bytes held for an 8 MiB state`);
      }
      a.ws.terminate();
      await until(() => o.handler.streams.active.readers === 1, 5000, "a's stream stopped");
      b.ws.terminate();
      await until(() => o.handler.streams.active.serializations === 0, 5000, 'the serialization stopped');
      assert.deepEqual(o.handler.streams.active, { readers: 0, serializations: 0 });
      assert.ok(!log.some((e) => e.m.t === 'snapshot-end'), 'neither got the whole snapshot');
    } finally {
      await o.close();
    }
  });

  it('stops every stream when the owner loses its lease', async () => {
    const o = await directOwner(await newRoot(), bigState(8 * MiB));
    const log: Log = [];
    try {
      const a = await pausedJoiner(o.endpoint, SECRET, 'a', log);
      await until(() => o.handler.streams.active.readers === 1, 5000, 'streaming');
      await o.lease.release();
      await until(() => o.handler.streams.active.serializations === 0 && o.handler.streams.active.readers === 0, 5000, 'stopped');
      a.ws.terminate();
    } finally {
      await o.close();
    }
  });

  it('sends the changes committed during a stream after its end, in order, none missing', async () => {
    const root = await newRoot();
    await seed(root, bigState(8 * MiB));
    const c = cluster(root);
    const log: Log = [];
    try {
      const owner = c.make({ transport: 'ipc' });
      await within(owner.whenOwner(), 20_000, 'the owner');
      const a = await pausedJoiner(owner.endpoint!, await c.secret(owner), 'a', log);
      const writes: Promise<number>[] = [];
      for (let i = 0; i < 300; i++)
        writes.push(i % 3 === 0 ? owner.state.set(`w.k${i}`, i) : owner.state.increment('n', 1, { durable: false }));
      await within(Promise.all(writes), 20_000, 'the writes');
      a.ws.resume();
      await until(() => a.got().some((m) => m.t === 'synced'), 20_000, 'a synced');
      a.ws.close();
      const got = a.got().filter((m) => m.t !== 'welcome' && m.t !== 'presence' && m.t !== 'standby-request');
      const snap = assembled(got);
      const endAt = got.findIndex((m) => m.t === 'snapshot-end');
      assert.ok(
        got.slice(0, endAt).every((m) => m.t === 'snapshot-part'),
        'nothing but parts before the end',
      );
      let state: Doc = snap.state;
      let v = snap.v;
      for (const m of got.slice(endAt + 1, -1)) {
        assert.equal(m.t, 'changes');
        assert.equal(m.v, v + 1, 'each starts where the last ended');
        for (const mutation of m.ms as Mutation[]) state = apply(state, mutation);
        v += (m.ms as unknown[]).length;
      }
      assert.deepEqual(got.at(-1), { t: 'synced', epoch: a.epoch, v });
      assert.equal(v, owner.state.version);
      assert.deepEqual(view(state), owner.state.get());
    } finally {
      await c.close();
    }
  });

  it("joins a state larger than the follower's maxPayload", async () => {
    const root = await newRoot();
    await seed(root, bigState(4 * MiB));
    const c = cluster(root);
    try {
      const owner = c.make();
      await within(owner.whenOwner(), 20_000, 'the owner');
      const link = await FollowerLink.connect({
        endpoint: owner.endpoint!,
        secret: await c.secret(owner),
        instanceId: 'small',
        name: 'small',
        minEpoch: 0,
        clock: systemClock,
        maxPayload: MiB,
      });
      const got: Msg[] = [];
      let closed: unknown;
      link.attach({ onMessage: (m) => void got.push(m as unknown as Msg), onPresence: () => undefined, onClose: (why) => (closed = why) });
      link.send({ t: 'sync', epoch: link.epoch, since: 0 });
      await until(() => closed !== undefined || got.some((m) => m.t === 'synced'), 10_000, 'synced or closed');
      assert.equal(closed, undefined, `the link closed: ${JSON.stringify(closed)}`);
      link.close();
      assert.deepEqual(assembled(got).state, owner.state.get());
    } finally {
      await c.close();
    }
  });

  it('sends a catch-up of 10 000 large changes a message at a time, as the follower reads it', async () => {
    const o = await directOwner(await newRoot());
    const log: Log = [];
    try {
      // In batches: one flood of 10 000 would hold this loop long enough to lose the lease on a busy machine.
      for (let b = 0; b < 10; b++) {
        const writes: Promise<number>[] = [];
        for (let i = b * 1000; i < (b + 1) * 1000; i++)
          writes.push(o.shared.set(`k${i % 100}`, `${i}:${'v'.repeat(2000)}`, { durable: false }));
        await within(Promise.all(writes), 20_000, `batch ${b} acknowledged`);
      }
      await until(() => o.shared.version === 10_000, 20_000, 'all committed').catch((e) => assert.fail(`${e} at ${o.shared.version}`));
      const a = await pausedJoiner(o.endpoint, SECRET, 'a', log);
      const w = await rawFollower(o.endpoint, SECRET, 'w', log);
      w.send({ t: 'mutate', seq: 1, m: { op: 'set', path: 'w', value: 1 } });
      await until(() => w.got().some((m) => m.t === 'acks'), 5000, "w's ack");
      await until(() => o.peers.get('a')!.bufferedAmount > 0, 5000, "a's socket full");
      const buffered = o.peers.get('a')!.bufferedAmount;
      assert.ok(buffered < 3 * MiB, `${buffered} bytes held for a 20 MB catch-up`);
      a.ws.resume();
      await until(() => a.got().some((m) => m.t === 'synced'), 20_000, 'a synced');
      a.ws.close();
      w.ws.close();
      let v = 0;
      for (const m of a.got().filter((m) => m.t === 'changes')) {
        assert.equal(m.v, v + 1);
        v += (m.ms as unknown[]).length;
      }
      assert.equal(v, 10_001);
      assert.deepEqual(a.got().at(-1), { t: 'synced', epoch: a.epoch, v });
      assert.ok(!a.got().some((m) => m.t === 'snapshot-part'));
    } finally {
      await o.close();
    }
  });
});
