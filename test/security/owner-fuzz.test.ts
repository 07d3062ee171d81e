/**
 * Hostile input against a real owner (property-based, fast-check): whatever an authenticated local process
 * sends, before or after its hello, the owner answers with a documented refusal (a 4000–4999 close code,
 * 1009 for an oversized frame, or a nack), keeps serving the others, and its state changes only by the
 * mutations it acknowledged. Each run prints its seed; FC_SEED=<seed> replays it.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { join, type Instance } from '../../src/instance/instance.js';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import { tempRoot } from '../helpers.js';
import { PROTOCOL_VERSION } from '../../src/transport/protocol.js';

interface Outcome {
  /** Close code, or 0 if the socket was still open when we stopped waiting. */
  code: number;
  frames: Record<string, unknown>[];
}

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FC_RUNS ?? 100);

describe('hostile input to the owner', () => {
  let root: Awaited<ReturnType<typeof tempRoot>>;
  let owner: Instance;
  let witness: Instance;
  let endpoint: string;
  let secret: string;
  let acked = 0;
  let witnessWrites = 0;

  before(async () => {
    root = await tempRoot();
    owner = join({ dataRoot: root.dir, ttlMs: 3000, maxPayload: 64 * 1024, maxValueBytes: 1024 });
    await owner.whenOwner();
    witness = join({ dataRoot: root.dir, ttlMs: 3000 });
    await witness.whenConnected();
    const store = new FileLeaseStore({ dataRoot: root.dir });
    const record = (await store.inspect(owner.key))!;
    await store.close();
    endpoint = record.meta.endpoint as string;
    secret = record.meta.secret as string;
    console.log(`# owner fuzz seed ${seed} (FC_SEED to replay), ${RUNS} runs per property`);
  });
  after(async () => {
    await Promise.all([witness.close(), owner.close()]);
    await root.remove();
  });

  /** Sends frames in order (after an optional valid hello) and collects what comes back. */
  async function exchange(frames: (string | Buffer)[], helloFirst: boolean, waitMs = 150): Promise<Outcome> {
    const ws = new WebSocket(endpoint, { headers: { authorization: `Bearer ${secret}` }, perMessageDeflate: false });
    const got: Record<string, unknown>[] = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    ws.on('message', (d) => {
      try {
        const m = JSON.parse(String(d));
        if (m.t === 'batch') got.push(...m.items);
        else got.push(m);
      } catch {
        got.push({ unparsable: String(d) });
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (helloFirst)
      ws.send(JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 1, instanceId: `fuzz-${Math.random()}`, name: 'fuzz', pid: 1 }));
    for (const f of frames) ws.send(f);
    const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), waitMs))]);
    if (code === 0) {
      ws.close();
      await closed;
    }
    for (const m of got) if (m.t === 'acks') acked += (m.seqs as unknown[]).length;
    return { code, frames: got };
  }

  const refusal = (o: Outcome) => (o.code >= 4000 && o.code < 5000) || o.code === 1009;

  async function ownerStillServes(): Promise<void> {
    assert.equal(owner.role, 'owner');
    await witness.state.increment('witness');
    witnessWrites++;
  }

  it('refuses anything but a hello as the first frame, before reading anything else', async () => {
    const notHello = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc
        .record({ t: fc.constantFrom('mutate', 'sync', 'welcome', 'HELLO', 'hello '), epoch: fc.integer(), seq: fc.integer() })
        .map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    );
    await fc.assert(
      fc.asyncProperty(notHello, async (frame) => {
        const o = await exchange([frame], false);
        assert.ok(refusal(o), `closed with ${o.code} after ${String(frame).slice(0, 80)}`);
        assert.ok(!o.frames.some((m) => m.t === 'welcome' || m.t === 'snapshot-part'), 'nothing was served');
      }),
      { seed, numRuns: RUNS },
    );
    await ownerStillServes();
  });

  it('hellos of another protocol version, a newer epoch, or wrong types get their documented close codes', async () => {
    const base = { t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 1, instanceId: 'x', name: 'n', pid: 1 };
    const cases: [Record<string, unknown>, number][] = [
      [{ ...base, v: PROTOCOL_VERSION + 1 }, 4002],
      [{ ...base, v: 0 }, 4002],
      [{ ...base, v: [PROTOCOL_VERSION] }, 4000],
      [{ ...base, epoch: 99 }, 4004],
      [{ ...base, epoch: '1' }, 4000],
      [{ ...base, instanceId: '' }, 4000],
      [{ ...base, extra: { deep: true } }, 4000],
      [{ ...base, instanceId: owner.instanceId }, 4000],
    ];
    for (const [hello, code] of cases) assert.equal((await exchange([JSON.stringify(hello)], false)).code, code, JSON.stringify(hello));
    await ownerStillServes();
  });

  it('after a hello: malformed, unknown, deeply nested, oversized and replayed messages are refused or deduplicated', async () => {
    const versionBefore = owner.state.version;
    const ackedBefore = acked;
    const witnessBefore = witnessWrites;
    const anyMutation = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          op: fc.constantFrom('set', 'delete', 'increment', 'push', 'remove-at', 'batch', 'dispatch', 'eval'),
          path: fc.constantFrom('', 'a', 'a.b', '__proto__.x', 'constructor', 'a..b', 'x.0', ' '),
          value: fc.jsonValue({ maxDepth: 3 }),
          by: fc.oneof(fc.integer(), fc.constant(Infinity), fc.string({ maxLength: 2 })),
          index: fc.integer({ min: -2, max: 3 }),
          ops: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
          type: fc.string({ maxLength: 5 }),
        },
        { requiredKeys: ['op'] },
      ),
    );
    const message = fc
      .oneof(
        // well-formed envelopes around hostile bodies: answered with ack or nack
        fc.record({ t: fc.constant('mutate'), epoch: fc.constant(1), seq: fc.integer({ min: 1, max: 50 }), m: anyMutation }),
        fc.record({ t: fc.constant('sync'), epoch: fc.constant(1), since: fc.integer({ min: 0, max: 10_000 }) }),
        // broken envelopes: refused with 4000
        fc.record(
          {
            t: fc.constantFrom('mutate', 'sync', 'batch', 'welcome', 'nope'),
            epoch: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.string({ maxLength: 3 })),
            seq: fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant(1.5)),
            since: fc.integer({ min: -5, max: 5 }),
            m: anyMutation,
          },
          { requiredKeys: ['t'] },
        ),
        fc.jsonValue({ maxDepth: 4 }),
      )
      .map((v) => JSON.stringify(v))
      .chain((json) => fc.oneof(fc.constant(json), fc.string({ maxLength: 100 })));
    let served = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 4 }), async (frames) => {
        const o = await exchange(frames, true);
        if (o.frames.some((m) => m.t === 'acks' || m.t === 'nack' || m.t === 'synced')) served++;
        // Either refused with a close code, or still open with only acks, nacks and state replies.
        assert.ok(o.code === 0 || refusal(o), `closed with ${o.code}`);
        for (const m of o.frames)
          assert.ok(
            [
              'welcome',
              'presence',
              'successor',
              'standby-request',
              'acks',
              'nack',
              'changes',
              'snapshot-part',
              'snapshot-end',
              'synced',
            ].includes(String(m.t)),
            JSON.stringify(m).slice(0, 200),
          );
      }),
      { seed, numRuns: RUNS },
    );
    assert.ok(served > 0, 'the generator also produced messages the owner answers (acks, nacks, syncs)');
    // Deep nesting and oversized frames.
    const deep = '{"t":"mutate","epoch":1,"seq":1,"m":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    const nested = await exchange([deep], true);
    // Valid JSON, but not a mutation: refused to the sender (a nack), or the socket closed with a code.
    assert.ok(
      nested.code === 0 ? nested.frames.some((m) => m.t === 'nack' && m.code === 'EPROTOCOL') : refusal(nested),
      JSON.stringify(nested).slice(0, 200),
    );
    assert.equal((await exchange(['{"t":"sync","epoch":1,"since":0,"pad":"' + 'x'.repeat(70 * 1024) + '"}'], true)).code, 1009);
    // A replayed id is acknowledged again with the same version, not applied twice.
    const id = `replay-${Math.random()}`;
    const mut = (seq: number) =>
      JSON.stringify({ t: 'mutate', epoch: owner.epoch, seq, m: { op: 'increment', path: `replay.${id.length}` } });
    const ws = new WebSocket(endpoint, { headers: { authorization: `Bearer ${secret}` } });
    const acks: number[] = [];
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      for (const x of m.t === 'batch' ? m.items : [m]) if (x.t === 'acks') acks.push(...x.vs);
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 1, instanceId: id, name: 'replayer', pid: 1 }));
    ws.send(mut(1));
    ws.send(mut(1));
    ws.send(mut(1));
    await new Promise((r) => setTimeout(r, 200));
    ws.close();
    assert.equal(acks.length, 3);
    assert.equal(new Set(acks).size, 1, 'one version for one id');
    acked += 1;

    await ownerStillServes();
    // The state moved only by what was acknowledged (fuzz acks, one replayed id, the witness's writes).
    assert.equal(owner.state.version, versionBefore + (acked - ackedBefore) + (witnessWrites - witnessBefore));
  });
});
