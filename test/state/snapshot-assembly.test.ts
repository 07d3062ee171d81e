/**
 * A follower joining a streamed snapshot: any cut of the text into parts gives back the document, and
 * every stream an owner would not send is refused with 4000, or 1009 past the limit, without a throw; a
 * real follower against a fake owner closes its link at any broken stream and keeps its replica.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { WebSocketServer, type WebSocket } from 'ws';
import { join } from '../../src/instance/instance.js';
import { LeaseKey } from '../../src/lease/key.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import { SnapshotAssembly, type Refusal } from '../../src/state/snapshot-assembly.js';
import { SNAPSHOT_PART_CHARS } from '../../src/transport/codec/to-follower.js';
import { CloseCode, PROTOCOL_VERSION } from '../../src/transport/protocol.js';
import { ownerProof } from '../../src/transport/secret.js';
import { delay, tempRoot, until } from '../helpers.js';

const KEY = LeaseKey.forApp('leasehold');

/** The parts of `text` cut at `cuts` (positions, any order, duplicates ignored). */
function cut(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % text.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const parts: string[] = [];
  let from = 0;
  for (const c of [...at, text.length]) {
    parts.push(text.slice(from, c));
    from = c;
  }
  return parts;
}

function stream(a: SnapshotAssembly, v: number, parts: string[]) {
  for (let i = 0; i < parts.length; i++) assert.equal(a.part({ v, i, text: parts[i]! }), undefined, `part ${i}`);
  return a.end({ v, parts: parts.length, chars: parts.reduce((n, p) => n + p.length, 0) });
}

const code = (r: unknown) => (r as Refusal | undefined)?.refused.code;

describe('snapshot assembly', () => {
  it('joins any cut of the text, inside surrogate pairs too, into the document', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat(1000), (value, cuts, v) => {
        const text = JSON.stringify({ x: value, emoji: '😀🎉 ünïcode' });
        const done = stream(new SnapshotAssembly(), v, cut(text, cuts));
        assert.deepEqual(done, { v, state: JSON.parse(text) });
      }),
    );
  });

  it('takes one stream after another, and refuses at the first thing out of place', () => {
    const a = new SnapshotAssembly();
    assert.deepEqual(stream(a, 3, ['{"a"', ':1}']), { v: 3, state: { a: 1 } });
    assert.deepEqual(stream(a, 5, ['[1,2]']), { v: 5, state: [1, 2] });
    const cases: [string, (a: SnapshotAssembly) => unknown][] = [
      ['a part other than 0 first', (a) => a.part({ v: 1, i: 1, text: '{}' })],
      ['a gap', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.part({ v: 1, i: 2, text: '}' }))],
      ['a repeat', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.part({ v: 1, i: 0, text: '{' }))],
      ['another version', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.part({ v: 2, i: 1, text: '}' }))],
      ['an end without a stream', (a) => a.end({ v: 1, parts: 1, chars: 2 })],
      ['an end of another version', (a) => (a.part({ v: 1, i: 0, text: '{}' }), a.end({ v: 2, parts: 1, chars: 2 }))],
      ['an end counting other parts', (a) => (a.part({ v: 1, i: 0, text: '{}' }), a.end({ v: 1, parts: 2, chars: 2 }))],
      ['an end counting other characters', (a) => (a.part({ v: 1, i: 0, text: '{}' }), a.end({ v: 1, parts: 1, chars: 3 }))],
      ['text that is not JSON', (a) => (a.part({ v: 1, i: 0, text: '{"a":' }), a.end({ v: 1, parts: 1, chars: 5 }))],
      ['a change in the middle', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.interrupts('changes'))],
      ['an ack in the middle', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.interrupts('acks'))],
      ['synced in the middle', (a) => (a.part({ v: 1, i: 0, text: '{' }), a.interrupts('synced'))],
    ];
    for (const [name, run] of cases) {
      const a = new SnapshotAssembly();
      assert.equal(code(run(a)), CloseCode.PROTOCOL, name);
      assert.equal(a.receiving, false, `${name}: nothing kept`);
      assert.deepEqual(stream(a, 9, ['{}']), { v: 9, state: {} }, `${name}: the next stream starts afresh`);
    }
    const idle = new SnapshotAssembly();
    assert.equal(idle.interrupts('changes'), undefined, 'changes between streams');
    idle.part({ v: 1, i: 0, text: '{' });
    assert.equal(idle.interrupts('presence'), undefined, 'presence in the middle');
  });

  it('refuses with 1009 the part that takes a stream past its limit, and keeps nothing', () => {
    const a = new SnapshotAssembly(10);
    assert.equal(a.part({ v: 1, i: 0, text: '["abcd",' }), undefined);
    assert.equal(a.part({ v: 1, i: 1, text: '1' }), undefined);
    assert.equal(code(a.part({ v: 1, i: 2, text: '2]' })), CloseCode.TOO_BIG);
    assert.equal(a.receiving, false);
    assert.equal(code(a.part({ v: 1, i: 0, text: 'x'.repeat(11) })), CloseCode.TOO_BIG, 'one part over it');
    assert.deepEqual(stream(a, 2, ['[1,', '2]']), { v: 2, state: [1, 2] }, 'within it');
  });
});

/** A follower's side of one connection to the fake owner, from its `sync` on. */
interface Conn {
  ws: WebSocket;
  closed: Promise<number>;
}

const SECRET = 'fake-secret-0123456789abcdefghijkl';

/** An "owner" that holds the lease and welcomes followers (proving it holds the secret), then sends whatever the test says. */
async function fakeOwner(store: MemoryLeaseStore) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const endpoint = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  const lease = await store.acquire(KEY, { meta: { endpoint, secret: SECRET } });
  const synced: Conn[] = [];
  const waiting: ((c: Conn) => void)[] = [];
  wss.on('connection', (ws) => {
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { t: string; nonce?: string };
      if (m.t === 'hello')
        ws.send(
          JSON.stringify({
            t: 'welcome',
            v: PROTOCOL_VERSION,
            proof: ownerProof(SECRET, m.nonce!),
            epoch: lease.epoch,
            ownerId: 'fake',
            instances: [],
            maxPayload: 1 << 20,
            sv: 0,
          }),
        );
      if (m.t !== 'sync') return;
      const next = waiting.shift();
      if (next) next({ ws, closed });
      else synced.push({ ws, closed });
    });
  });
  return {
    epoch: lease.epoch,
    /** The next connection whose follower asked to sync. */
    next: (): Promise<Conn> => {
      const c = synced.shift();
      return c ? Promise.resolve(c) : new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      await lease.release().catch(() => undefined);
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

const faults = [
  'none',
  'drop',
  'swap',
  'version',
  'epoch',
  'index',
  'long',
  'not-text',
  'malformed',
  'binary',
  'end-parts',
  'end-chars',
  'end-version',
  'change-between',
  'not-json',
] as const;

/** The frames of one stream of `text` at version `v`, broken as `fault` says at part `k`. */
function hostileFrames(epoch: number, v: number, text: string, cuts: number[], fault: (typeof faults)[number], at: number) {
  const parts = cut(text, cuts);
  const frames: (Record<string, unknown> | string | Buffer)[] = parts.map((t, i) => ({ t: 'snapshot-part', epoch, v, i, text: t }));
  const end: Record<string, unknown> = { t: 'snapshot-end', epoch, v, parts: parts.length, chars: text.length };
  const k = at % parts.length;
  const part = frames[k] as Record<string, unknown>;
  switch (fault) {
    case 'drop':
      frames.splice(k, 1);
      break;
    case 'swap':
      if (parts.length > 1) [frames[k], frames[(k + 1) % parts.length]] = [frames[(k + 1) % parts.length]!, frames[k]!];
      else part.i = 1;
      break;
    case 'version':
      if (k > 0) part.v = v + 1;
      else end.v = v + 1;
      break;
    case 'epoch':
      part.epoch = epoch + 1 + (at % 3); // another epoch than the link's
      break;
    case 'index':
      part.i = k + 1 + (at % 3);
      break;
    case 'long':
      part.text = 'x'.repeat(SNAPSHOT_PART_CHARS + 1);
      break;
    case 'not-text':
      part.text = at % 2 === 0 ? 42 : '';
      break;
    case 'malformed':
      frames[k] = '{"t":"snapshot-part","epoch":';
      break;
    case 'binary':
      frames[k] = Buffer.from(JSON.stringify(part));
      break;
    case 'end-parts':
      end.parts = parts.length + 1;
      break;
    case 'end-chars':
      end.chars = text.length - 1;
      break;
    case 'end-version':
      end.v = v + 2;
      break;
    case 'change-between':
      frames.splice(Math.max(1, k), 0, { t: 'changes', epoch, v: v + 1, ms: [{ op: 'set', path: 'x', value: 1 }], ids: [null] });
      break;
    case 'not-json': {
      const last = frames[parts.length - 1] as Record<string, unknown>;
      last.text = `${String(last.text)}]`;
      end.chars = text.length + 1;
      break;
    }
  }
  frames.push(end);
  return frames.map((f) => (typeof f === 'string' || Buffer.isBuffer(f) ? f : JSON.stringify(f)));
}

describe('a follower against a hostile owner', () => {
  it('closes the link (4000, or 4004 for another epoch) at any broken stream, keeps its replica, and takes the next valid one', async () => {
    const root = await tempRoot();
    const store = new MemoryLeaseStore({ pollIntervalMs: 5 });
    const fake = await fakeOwner(store);
    const follower = join({ dataRoot: root.dir, store: new MemoryLeaseStore({ sharedWith: store, pollIntervalMs: 5 }) });
    const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`# hostile owner seed ${seed} (FC_SEED to replay)`);
    const outcomes = new Map<string, number>();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.jsonValue({ maxDepth: 3 }),
          fc.array(fc.nat(), { maxLength: 6 }),
          fc.nat(1000),
          fc.constantFrom(...faults),
          fc.nat(),
          async (value, cuts, v, fault, at) => {
            const conn = await fake.next();
            const before = follower.state.get();
            const text = JSON.stringify({ doc: value });
            for (const f of hostileFrames(fake.epoch, v, text, cuts, fault, at)) conn.ws.send(f);
            if (fault === 'none') {
              await until(() => follower.state.version === v && isDeepStrictEqual(follower.state.get(), JSON.parse(text)), 5000, 'applied');
              conn.ws.close(4003);
              await conn.closed;
              return;
            }
            const code = await Promise.race([conn.closed, delay(5000).then(() => 0)]);
            outcomes.set(fault, code);
            assert.equal(code, fault === 'epoch' ? CloseCode.STALE_EPOCH : CloseCode.PROTOCOL, `${fault}: closed with ${code}`);
            assert.equal(follower.state.get(), before, `${fault}: the replica is untouched`);
          },
        ),
        { seed, numRuns: Number(process.env.FC_RUNS ?? 60) },
      );
    } finally {
      await follower.close();
      await fake.close();
      await store.close();
      await root.remove();
    }
    assert.ok(outcomes.size >= 5, `several kinds of fault were tried: ${[...outcomes.keys()].join(', ')}`);
  });
});
