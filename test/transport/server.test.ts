/**
 * The owner's server (and the same listener as a designated successor's standby, before it serves) against
 * raw bytes from peers that never authenticated or that break the WebSocket protocol after authenticating.
 * Invariants: the process survives (an unhandled `error` event would fail the test as an uncaught
 * exception), every hostile connection is closed, the handler sees no message from it, and a legitimate
 * follower is still welcomed afterwards.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { systemClock } from '../../src/clock.js';
import { OwnerServer, type OwnerHandler } from '../../src/transport/server.js';
import { FollowerLink } from '../../src/transport/client.js';
import { CloseCode, PROTOCOL_VERSION, refusedBy } from '../../src/transport/protocol.js';
import { proofMatches } from '../../src/transport/secret.js';
import { tempRoot } from '../helpers.js';
import { exchangeRaw, frame, httpStatus, upgradeRequest, violations } from './hostile-frames.js';

const SECRET = 'test-secret-0123456789abcdefghijklmnopqrstuv';
const MAX_PAYLOAD = 64 * 1024;
const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

function portOf(endpoint: string): number {
  return Number(new URL(endpoint).port);
}

function recordingHandler(): OwnerHandler & { messages: number; joins: string[] } {
  const h = {
    messages: 0,
    joins: [] as string[],
    onJoin: (_p: unknown, hello: { instanceId: string }) => void h.joins.push(hello.instanceId),
    onMessage: () => void h.messages++,
    onLeave: () => undefined,
  };
  return h as unknown as OwnerHandler & { messages: number; joins: string[] };
}

async function follow(endpoint: string, instanceId: string, secret = SECRET): Promise<FollowerLink> {
  return FollowerLink.connect({ endpoint, secret, instanceId, name: instanceId, minEpoch: 0, clock: systemClock, connectTimeoutMs: 2000 });
}

describe('OwnerServer against hostile bytes', () => {
  let root: Awaited<ReturnType<typeof tempRoot>>;
  before(async () => {
    root = await tempRoot();
    console.log(`# server fuzz seed ${seed} (FC_SEED to replay)`);
  });
  after(() => root.remove());

  const listen = () =>
    OwnerServer.listen({
      transport: 'tcp',
      root: root.dir,
      instanceId: 'owner',
      name: 'owner',
      secret: SECRET,
      clock: systemClock,
      maxPayload: MAX_PAYLOAD,
    });

  for (const state of ['serving', 'standby'] as const) {
    it(`${state}: every protocol violation, with and without the secret, closes that connection only`, async () => {
      const server = await listen();
      const handler = recordingHandler();
      if (state === 'serving') server.serve(1, () => undefined, handler);
      const port = portOf(server.endpoint);
      const target = { port };
      for (const [name, bytes] of Object.entries(violations(MAX_PAYLOAD))) {
        // Without the secret: refused by HTTP status before a WebSocket (and its parser) exists.
        const anon = await exchangeRaw(target, [Buffer.concat([upgradeRequest(port), bytes])]);
        assert.equal(httpStatus(anon.reply), 401, `${name} without the secret`);
        assert.ok(anon.closed, `${name} without the secret: closed`);
        // With the secret: upgraded, then the frame breaks the protocol. A standby holds the socket unread
        // until it serves or closes; the frame is parsed then.
        const authed = await exchangeRaw(
          target,
          [Buffer.concat([upgradeRequest(port, { secret: SECRET }), bytes])],
          state === 'serving' ? 1000 : 50,
        );
        assert.equal(httpStatus(authed.reply), 101, `${name} with the secret`);
        if (state === 'serving') assert.ok(authed.closed, `${name} with the secret: closed`);
        // Bytes after a hello too.
        const hello = JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 0, instanceId: `h-${name}`, name, pid: 1 });
        await exchangeRaw(target, [upgradeRequest(port, { secret: SECRET }), frame(0x81, hello), bytes], 100);
      }
      if (state === 'standby') server.serve(1, () => undefined, handler); // the held sockets are read now
      const link = await follow(server.endpoint, 'legit');
      assert.equal(link.epoch, 1);
      assert.equal(handler.messages, 0, 'no hostile frame reached the handler');
      link.close();
      await server.close();
    });
  }

  it('a standby closed without serving reads its held hostile sockets without failing', async () => {
    const server = await listen();
    const port = portOf(server.endpoint);
    const sockets = Object.values(violations(MAX_PAYLOAD)).map((bytes) =>
      exchangeRaw({ port }, [Buffer.concat([upgradeRequest(port, { secret: SECRET }), bytes])], 1000),
    );
    await new Promise((r) => setTimeout(r, 100));
    await server.close();
    for (const r of await Promise.all(sockets)) assert.ok(r.closed);
  });

  it('refuses browser origins, foreign Host headers (DNS rebinding) and wrong secrets with an HTTP status', async () => {
    const server = await listen();
    server.serve(1, () => undefined, recordingHandler());
    const port = portOf(server.endpoint);
    const status = async (opts: Parameters<typeof upgradeRequest>[1]) =>
      httpStatus((await exchangeRaw({ port }, [upgradeRequest(port, opts)])).reply);
    assert.equal(await status({ secret: SECRET, origin: 'https://evil.example' }), 403);
    assert.equal(await status({ secret: SECRET, origin: 'null' }), 403);
    assert.equal(await status({ secret: SECRET, host: `attacker.example:${port}` }), 403);
    assert.equal(await status({ secret: SECRET, host: '127.0.0.1' }), 403, 'no port');
    assert.equal(await status({ secret: SECRET, host: `127.0.0.1:${port + 1}` }), 403, 'another port');
    assert.equal(await status({ secret: SECRET, host: null }), 403, 'no Host');
    assert.equal(await status({ secret: 'wrong' }), 401);
    assert.equal(await status({}), 401);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`])
      assert.equal(await status({ secret: SECRET, host }), 101, host);
    await server.close();
  });

  it('refuses a hello of another protocol version (4002 "protocol N PROOF", proving the secret) and welcomes one of this version', async () => {
    const server = await listen();
    const handler = recordingHandler();
    server.serve(1, () => undefined, handler);
    const port = portOf(server.endpoint);
    const hellos = [
      { t: 'hello', v: PROTOCOL_VERSION + 1, nonce: 'n1', epoch: 0, instanceId: 'newer', name: 'v', pid: 1 },
      { t: 'hello', v: PROTOCOL_VERSION - 1, nonce: 'n2', epoch: 0, instanceId: 'older', name: 'v', pid: 1 },
      // Another version's hello need not decode as ours: its version and nonce are what is read.
      { t: 'hello', v: PROTOCOL_VERSION + 1, nonce: 'n3', somethingNew: [1, 2] },
    ];
    for (const hello of hellos) {
      // The close frame comes at once; the socket stays until the close handshake, which this peer never answers.
      const { reply } = await exchangeRaw({ port }, [upgradeRequest(port, { secret: SECRET }), frame(0x81, JSON.stringify(hello))], 200);
      const close = reply.indexOf(Buffer.from([0x88]), reply.indexOf('\r\n\r\n') + 4);
      assert.ok(close > 0, `protocol ${hello.v}: a close frame`);
      assert.equal(reply.readUInt16BE(close + 2), CloseCode.VERSION, `protocol ${hello.v}`);
      const refused = refusedBy(reply.subarray(close + 4, close + 2 + reply[close + 1]!).toString());
      assert.equal(refused?.v, PROTOCOL_VERSION);
      assert.ok(proofMatches(SECRET, hello.nonce, refused?.proof), `the refusal proves the secret for ${hello.nonce}`);
    }
    assert.deepEqual(handler.joins, []);
    const link = await follow(server.endpoint, 'current');
    assert.deepEqual(handler.joins, ['current']);
    link.close();
    await server.close();
  });

  it('refuses a second connection in the name of a connected instance (4007); the first keeps its link', async () => {
    const server = await listen();
    const handler = recordingHandler();
    server.serve(1, () => undefined, handler);
    const real = await follow(server.endpoint, 'follower-a');
    await assert.rejects(follow(server.endpoint, 'follower-a'), (err: Error) => err.message.includes(String(CloseCode.DUPLICATE)));
    assert.equal(real.closed, false);
    assert.deepEqual(handler.joins, ['follower-a']);
    // Once the real one is gone, the id may connect again (a follower that reconnects).
    real.close();
    await new Promise((r) => setTimeout(r, 50));
    const again = await follow(server.endpoint, 'follower-a');
    again.close();
    await server.close();
  });

  it('random bytes in any phase never end the process (property)', async () => {
    const server = await listen();
    const handler = recordingHandler();
    server.serve(1, () => undefined, handler);
    const port = portOf(server.endpoint);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('raw', 'after-upgrade-no-secret', 'after-upgrade-secret', 'after-hello'),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        async (phase, bytes) => {
          const b = Buffer.from(bytes);
          const hello = frame(
            0x81,
            JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 0, instanceId: `r-${Math.random()}`, name: 'r', pid: 1 }),
          );
          const parts =
            phase === 'raw'
              ? [b]
              : phase === 'after-upgrade-no-secret'
                ? [upgradeRequest(port), b]
                : phase === 'after-upgrade-secret'
                  ? [upgradeRequest(port, { secret: SECRET }), b]
                  : [upgradeRequest(port, { secret: SECRET }), hello, b];
          await exchangeRaw({ port }, parts, 30);
        },
      ),
      { seed, numRuns: Number(process.env.FC_RUNS ?? 150) },
    );
    const link = await follow(server.endpoint, 'after-fuzz');
    link.close();
    await server.close();
  });
});
