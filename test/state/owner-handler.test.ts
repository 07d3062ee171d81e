/**
 * What the owner sends to followers: a commit's changes as one `changes` message and its acks as `acks`.
 * Raw ws clients stand in for followers, so every frame is seen as sent.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { join } from '../../src/instance/instance.js';
import { catchUpMessages } from '../../src/state/owner-handler.js';
import type { Committed } from '../../src/state/owner-state.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { PROTOCOL_VERSION } from '../../src/transport/protocol.js';
import { tempRoot, until } from '../helpers.js';

type Msg = { t: string; [k: string]: unknown };

async function rawFollower(endpoint: string, secret: string, id: string) {
  const ws = new WebSocket(endpoint, { headers: { authorization: `Bearer ${secret}` }, perMessageDeflate: false });
  const got: Msg[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as Msg;
    if (m.t === 'batch') got.push(...(m.items as Msg[]));
    else got.push(m);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 1, instanceId: id, name: id, pid: 1 }));
  await until(() => got.find((m) => m.t === 'welcome'), 2000, `${id} welcomed`);
  return { ws, got, epoch: got.find((m) => m.t === 'welcome')!.epoch as number };
}

/** Every change a follower was sent, as [version, mutation, id]. */
function changesOf(got: Msg[]): [number, unknown, unknown][] {
  const out: [number, unknown, unknown][] = [];
  for (const m of got) {
    if (m.t === 'changes') (m.ms as unknown[]).forEach((x, i) => out.push([(m.v as number) + i, x, (m.ids as unknown[])[i]]));
  }
  return out;
}

/** An owner (after `before` owners that came and left: its epoch is before + 1), its secret, and cleanup. */
async function serving(before = 0) {
  const root = await tempRoot();
  const shared = new MemoryLeaseStore({ pollIntervalMs: 5 });
  const make = () => join({ dataRoot: root.dir, store: new MemoryLeaseStore({ sharedWith: shared, pollIntervalMs: 5 }) });
  for (let i = 0; i < before; i++) {
    const gone = make();
    await gone.whenOwner();
    await gone.close();
  }
  const owner = make();
  await owner.whenOwner();
  const secret = String((await shared.inspect(owner.key))!.meta.secret);
  const clients: WebSocket[] = [];
  return {
    owner,
    secret,
    clients,
    async close() {
      for (const c of clients) c.close();
      await owner.close();
      await root.remove();
    },
  };
}

describe('owner handler', () => {
  it('sends followers `changes` and `acks`, and every follower the same history', async () => {
    const t = await serving();
    const { owner, secret, clients } = t;
    try {
      const a = await rawFollower(owner.endpoint!, secret, 'new');
      const b = await rawFollower(owner.endpoint!, secret, 'old');
      clients.push(a.ws, b.ws);
      for (const c of [a, b]) c.ws.send(JSON.stringify({ t: 'sync', epoch: c.epoch, since: 0 }));
      await until(() => a.got.some((m) => m.t === 'synced') && b.got.some((m) => m.t === 'synced'), 2000, 'both synced');
      const items = [1, 2, 3].map((seq) => ({ seq, m: { op: 'increment', path: 'n' } }));
      a.ws.send(JSON.stringify({ t: 'mutates', epoch: a.epoch, items }));
      await until(() => a.got.some((m) => m.t === 'acks'), 2000, 'acks to the first follower');
      b.ws.send(JSON.stringify({ t: 'mutate', epoch: b.epoch, seq: 1, m: { op: 'set', path: 's', value: 'x' } }));
      await until(() => b.got.some((m) => m.t === 'acks'), 2000, 'acks to the second follower');
      await until(() => changesOf(a.got).length === 4 && changesOf(b.got).length === 4, 2000, 'four changes each');

      const acks = a.got.filter((m) => m.t === 'acks');
      assert.deepEqual(
        acks.flatMap((a) => a.seqs as number[]),
        [1, 2, 3],
      );
      assert.deepEqual(
        acks.flatMap((a) => a.vs as number[]),
        [1, 2, 3],
      );
      assert.deepEqual(
        b.got.filter((m) => m.t === 'acks').map((m) => [m.seqs, m.vs]),
        [[[1], [4]]],
      );
      const history = [
        [1, { op: 'increment', path: 'n' }, ['new', 1]],
        [2, { op: 'increment', path: 'n' }, ['new', 2]],
        [3, { op: 'increment', path: 'n' }, ['new', 3]],
        [4, { op: 'set', path: 's', value: 'x' }, ['old', 1]],
      ];
      assert.deepEqual(changesOf(a.got), history);
      assert.deepEqual(changesOf(b.got), history);

      // A follower catching up from version 1 gets the rest as `changes` too.
      const late = await rawFollower(owner.endpoint!, secret, 'late');
      clients.push(late.ws);
      late.ws.send(JSON.stringify({ t: 'sync', epoch: late.epoch, since: 1 }));
      await until(() => late.got.some((m) => m.t === 'synced'), 2000, 'late synced');
      assert.deepEqual(changesOf(late.got), history.slice(1));
      assert.ok(late.got.some((m) => m.t === 'changes'));
    } finally {
      await t.close();
    }
  });

  it('splits a catch-up into `changes` messages of at most 1 000 changes or about 1 MiB, consecutive and complete', () => {
    const small: Committed[] = Array.from({ length: 2500 }, (_, i) => ({ v: 11 + i, m: { op: 'increment', path: 'n' }, id: ['a', i + 1] }));
    const big: Committed[] = Array.from({ length: 5 }, (_, i) => ({
      v: 1 + i,
      m: { op: 'set', path: 'x', value: 'y'.repeat(400_000) },
      id: null,
    }));
    for (const [missing, sizes] of [
      [small, [1000, 1000, 500]],
      [big, [3, 2]],
    ] as const) {
      const messages = [...catchUpMessages(7, missing)].map(
        (f) => JSON.parse(f) as { t: string; epoch: number; v: number; ms: unknown[]; ids: unknown[] },
      );
      assert.deepEqual(
        messages.map((m) => m.ms.length),
        sizes,
      );
      let v = missing[0]!.v;
      for (const m of messages) {
        assert.equal(m.t, 'changes');
        assert.equal(m.epoch, 7);
        assert.equal(m.v, v, 'each starts where the one before ended');
        assert.equal(m.ids.length, m.ms.length);
        v += m.ms.length;
      }
      assert.deepEqual(
        messages.flatMap((m) => m.ms),
        missing.map((c) => c.m),
      );
      assert.deepEqual(
        messages.flatMap((m) => m.ids),
        missing.map((c) => c.id),
      );
    }
    assert.deepEqual([...catchUpMessages(7, [])], []);
  });

  it("refuses a follower message naming another epoch than the owner's: older closes with 4004, newer with 4000", async () => {
    const t = await serving(1);
    const { owner, secret, clients } = t;
    try {
      assert.equal(owner.epoch, 2);
      const cases = [
        { t: 'mutate', epoch: 1, code: 4004 },
        { t: 'mutates', epoch: 1, code: 4004 },
        { t: 'sync', epoch: 1, code: 4004 },
        { t: 'mutate', epoch: 3, code: 4000 },
        { t: 'mutates', epoch: 3, code: 4000 },
        { t: 'sync', epoch: 3, code: 4000 },
      ];
      for (const [i, c] of cases.entries()) {
        const f = await rawFollower(owner.endpoint!, secret, `f${i}`);
        clients.push(f.ws);
        let closed: number | undefined;
        f.ws.once('close', (code) => (closed = code));
        const m = { op: 'set', path: `x${i}`, value: i };
        const body = c.t === 'mutate' ? { seq: 1, m } : c.t === 'mutates' ? { items: [{ seq: 1, m }] } : { since: 0 };
        f.ws.send(JSON.stringify({ t: c.t, epoch: c.epoch, ...body }));
        assert.equal(await until(() => closed, 2000, `${c.t} naming epoch ${c.epoch} refused`), c.code);
        assert.ok(!f.got.some((x) => x.t === 'acks' || x.t === 'synced'), 'nothing answered');
      }
      assert.equal(owner.state.version, 0, 'nothing applied');
      // The owner's own epoch is served.
      const f = await rawFollower(owner.endpoint!, secret, 'right');
      clients.push(f.ws);
      f.ws.send(JSON.stringify({ t: 'mutate', epoch: 2, seq: 1, m: { op: 'set', path: 'ok', value: true } }));
      await until(() => f.got.some((x) => x.t === 'acks'), 2000, 'acknowledged');
      assert.deepEqual(owner.state.get(), { ok: true });
    } finally {
      await t.close();
    }
  });

  it("applies a follower's mutations after another connection used its id with a far-ahead sequence number", async () => {
    const t = await serving();
    const { owner, secret, clients } = t;
    try {
      const push = (value: string) => ({ op: 'push', path: 'log', value });
      const forger = await rawFollower(owner.endpoint!, secret, 'F');
      clients.push(forger.ws);
      forger.ws.send(JSON.stringify({ t: 'mutate', epoch: forger.epoch, seq: 2 ** 52, m: push('forged') }));
      await until(() => forger.got.some((x) => x.t === 'acks'), 2000, 'the forged one acknowledged');
      forger.ws.close();
      await until(() => owner.instances.length === 1, 2000, 'the forger gone');
      const real = await rawFollower(owner.endpoint!, secret, 'F');
      clients.push(real.ws);
      real.ws.send(JSON.stringify({ t: 'mutates', epoch: real.epoch, items: [1, 2].map((seq) => ({ seq, m: push(`f${seq}`) })) }));
      await until(() => real.got.some((x) => x.t === 'acks'), 2000, 'acknowledged');
      assert.deepEqual(real.got.find((x) => x.t === 'acks')!.vs, [2, 3], 'applied, at new versions');
      assert.deepEqual(owner.state.get(), { log: ['forged', 'f1', 'f2'] });
    } finally {
      await t.close();
    }
  });
});
