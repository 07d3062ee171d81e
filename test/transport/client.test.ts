/**
 * A follower's link against an endpoint that answers with bytes no owner sends: whatever comes, before or
 * after the welcome, the link fails or closes with a reason and the process goes on.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { systemClock } from '../../src/clock.js';
import { FollowerLink, type LinkClose } from '../../src/transport/client.js';
import { CloseCode, PROTOCOL_VERSION } from '../../src/transport/protocol.js';
import { LeaseholdError } from '../../src/errors.js';
import { until } from '../helpers.js';
import { frame } from './hostile-frames.js';
import { ownerProof } from '../../src/transport/secret.js';

/** Server → client violations (a server must not mask; the rest as for clients). */
function serverViolations(): Record<string, Buffer> {
  return {
    WS_ERR_UNEXPECTED_MASK: frame(0x81, 'x'),
    WS_ERR_UNEXPECTED_RSV_1: frame(0xc1, 'x', { masked: false }),
    WS_ERR_INVALID_OPCODE: frame(0x83, 'x', { masked: false }),
    WS_ERR_EXPECTED_FIN: frame(0x09, 'x', { masked: false }),
    WS_ERR_INVALID_UTF8: frame(0x81, Buffer.from([0xc3, 0x28]), { masked: false }),
    WS_ERR_INVALID_CLOSE_CODE: frame(0x88, Buffer.from([0x03, 0xe7]), { masked: false }),
    WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: frame(0x81, '', { masked: false, length: 2n ** 40n }),
    garbage: Buffer.from('\x00\xff\x13\x37 not a frame at all'),
  };
}

/** The secret the follower presents in these tests (opts below), and the owner's proof for its nonce. */
const SECRET = 's';
const proof = (nonce: string) => ownerProof(SECRET, nonce);

/** A welcome of this protocol, with the owner's proof for the follower's `nonce`. */
const welcomeFor = (nonce: string, fields: Record<string, unknown> = {}) =>
  frame(
    0x81,
    JSON.stringify({
      t: 'welcome',
      v: PROTOCOL_VERSION,
      proof: proof(nonce),
      epoch: 1,
      ownerId: 'o',
      instances: [],
      maxPayload: 1 << 20,
      sv: 0,
      ...fields,
    }),
    { masked: false },
  );

/** The first whole text frame a follower sent (its frames are masked with a zero key: the payload is clear). */
function firstText(bytes: Buffer): string | undefined {
  if (bytes.length < 2 || bytes[0] !== 0x81) return undefined;
  let len = bytes[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    if (bytes.length < 4) return undefined;
    len = bytes.readUInt16BE(2);
    at = 4;
  }
  at += 4; // the mask
  return bytes.length < at + len ? undefined : bytes.subarray(at, at + len).toString('utf8');
}

/**
 * A fake owner on loopback: completes the WebSocket handshake, reads the follower's hello, then calls
 * `upgraded` with the socket and the hello's nonce, and `frames` with every byte the follower sends after
 * its upgrade request.
 */
async function fakeOwner(upgraded: (s: Socket, nonce: string) => void, frames: (bytes: Buffer) => void = () => undefined) {
  const server = createServer((s: Socket) => {
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let done = false;
    let after = Buffer.alloc(0);
    let hello = false;
    const onFrames = (d: Buffer) => {
      frames(d);
      if (hello) return;
      after = Buffer.concat([after, d]);
      const text = firstText(after);
      if (text === undefined) return;
      hello = true;
      upgraded(s, String((JSON.parse(text) as { nonce?: unknown }).nonce));
    };
    s.on('data', (d: Buffer) => {
      if (done) return onFrames(d);
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('latin1');
      const m = /Sec-WebSocket-Key: (\S+)/i.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (!m || end < 0) return;
      done = true;
      const accept = createHash('sha1').update(`${m[1]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      if (end + 4 < buf.length) onFrames(buf.subarray(end + 4));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, endpoint: `ws://127.0.0.1:${(server.address() as { port: number }).port}/` };
}

const opts = (endpoint: string) => ({
  endpoint,
  secret: SECRET,
  instanceId: 'f',
  name: 'f',
  minEpoch: 0,
  clock: systemClock,
  connectTimeoutMs: 1000,
});

describe('FollowerLink against a hostile endpoint', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  /** A fake owner that completes the handshake, then writes `after` (after a welcome, if `welcomed`). */
  async function hostile(after: Buffer, welcomed: boolean): Promise<string> {
    const fake = await fakeOwner((s, nonce) => {
      if (welcomed) s.write(welcomeFor(nonce));
      setTimeout(() => s.write(after), 20);
    });
    server = fake.server;
    return fake.endpoint;
  }

  for (const [name, bytes] of Object.entries(serverViolations())) {
    it(`${name} before the welcome: connect() rejects`, async () => {
      await assert.rejects(FollowerLink.connect(opts(await hostile(bytes, false))), /owner/);
    });
    it(`${name} after the welcome: the link closes with a reason`, async () => {
      const link = await FollowerLink.connect(opts(await hostile(bytes, true)));
      const closed = await new Promise<LinkClose>((resolve) =>
        link.attach({ onMessage: () => undefined, onPresence: () => undefined, onClose: resolve }),
      );
      assert.ok(['broken', 'protocol'].includes(closed.why), closed.why);
    });
  }
});

describe('FollowerLink against an owner of another protocol or state version, or a server without the secret', () => {
  /** What the follower sends after its upgrade: the code of its close frame (masked with a zero key). */
  const closeCodeOf = () => {
    let sent = Buffer.alloc(0);
    const seen: { code?: number } = {};
    const onBytes = (d: Buffer) => {
      sent = Buffer.concat([sent, d]);
      for (let at = 0; at + 2 <= sent.length; ) {
        let len = sent[at + 1]! & 0x7f;
        let head = 2;
        if (len === 126) {
          if (at + 4 > sent.length) break;
          len = sent.readUInt16BE(at + 2);
          head = 4;
        }
        if (at + head + 4 + len > sent.length) break;
        if (sent[at] === 0x88) seen.code = sent.readUInt16BE(at + head + 4);
        at += head + 4 + len;
      }
    };
    return { seen, onBytes };
  };
  const isError = (code: string, field: string | undefined, message: RegExp) => (e: unknown) =>
    e instanceof LeaseholdError && e.code === code && e.field === field && message.test(e.message);
  const unproven = isError('EPROTOCOL', undefined, /did not prove|refused the connection/);
  const text = (o: object) => frame(0x81, JSON.stringify(o), { masked: false });
  async function against(answer: (s: Socket, nonce: string) => void, frames?: (b: Buffer) => void) {
    const fake = await fakeOwner(answer, frames);
    return { endpoint: fake.endpoint, close: () => new Promise<void>((r) => fake.server.close(() => r())) };
  }

  it('a newer owner’s welcome (whose other fields need not decode): refused with 4002, EOUTDATED naming both versions', async () => {
    const { seen, onBytes } = closeCodeOf();
    const newer = (nonce: string) => ({ t: 'welcome', v: PROTOCOL_VERSION + 1, proof: proof(nonce), somethingNew: true });
    const fake = await against((s, nonce) => s.write(text(newer(nonce))), onBytes);
    try {
      await assert.rejects(
        FollowerLink.connect(opts(fake.endpoint)),
        isError('EOUTDATED', 'protocol', new RegExp(`protocol ${PROTOCOL_VERSION + 1}, newer than this app's ${PROTOCOL_VERSION}: restart`)),
      );
      await until(() => seen.code, 2000, 'the close frame');
      assert.equal(seen.code, CloseCode.VERSION);
    } finally {
      await fake.close();
    }
  });

  it('an owner that refuses the hello with 4002 "protocol N PROOF": EOUTDATED when N is newer, EPROTOCOL (wait) when older', async () => {
    for (const [n, code, field] of [
      [PROTOCOL_VERSION + 1, 'EOUTDATED', 'protocol'],
      [PROTOCOL_VERSION - 1, 'EPROTOCOL', undefined],
    ] as const) {
      const close = (reason: string) => frame(0x88, Buffer.concat([Buffer.from([0x0f, 0xa2]), Buffer.from(reason)]), { masked: false }); // 4002
      const fake = await against((s, nonce) => s.write(close(`protocol ${n} ${proof(nonce)}`)));
      try {
        await assert.rejects(FollowerLink.connect(opts(fake.endpoint)), isError(code, field, new RegExp(`protocol ${n}`)));
      } finally {
        await fake.close();
      }
    }
  });

  it('a welcome whose state version is newer than the code’s: EOUTDATED; not when equal, older, or the code names none', async () => {
    for (const [sv, own, outdated] of [
      [3, 2, true],
      [2, 2, false],
      [1, 2, false],
      [5, undefined, false],
    ] as const) {
      const fake = await against((s, nonce) => s.write(welcomeFor(nonce, { sv })));
      try {
        const connecting = FollowerLink.connect({ ...opts(fake.endpoint), stateVersion: own });
        if (outdated) await assert.rejects(connecting, isError('EOUTDATED', 'stateVersion', /state version 3, newer than this app's 2/));
        else (await connecting).close(true);
      } finally {
        await fake.close();
      }
    }
  });

  it('from a server that cannot prove it holds the secret, nothing stops the follower: each is a failed connection', async () => {
    // What a process listening on a stale record's port could send, each without the owner's proof.
    const answers: [string, (s: Socket, nonce: string) => void][] = [
      ['a welcome of a newer version', (s) => s.write(text({ t: 'welcome', v: PROTOCOL_VERSION + 1, proof: 'f'.repeat(64) }))],
      ['a welcome naming a newer state', (s) => s.write(welcomeFor('another nonce', { sv: 999 }))],
      ['a welcome without a proof', (s) => s.write(text({ t: 'welcome', v: PROTOCOL_VERSION, epoch: 1, ownerId: 'o', instances: [], maxPayload: 1 << 20, sv: 9 }))],
      ['a 4002 "protocol N" without a proof', (s) => s.write(frame(0x88, Buffer.concat([Buffer.from([0x0f, 0xa2]), Buffer.from('protocol 9')]), { masked: false }))],
      [
        'a 4002 with the proof of another nonce',
        (s) => s.write(frame(0x88, Buffer.concat([Buffer.from([0x0f, 0xa2]), Buffer.from(`protocol 9 ${proof('x')}`)]), { masked: false })),
      ],
    ];
    for (const [name, answer] of answers) {
      const fake = await against(answer);
      try {
        await assert.rejects(FollowerLink.connect({ ...opts(fake.endpoint), stateVersion: 1 }), unproven, name);
      } finally {
        await fake.close();
      }
    }
  });
});

describe('FollowerLink.prepare', () => {
  it('cancel() after the welcome closes the link (a leaked one would answer pings and block reconnects)', async () => {
    const { OwnerServer } = await import('../../src/transport/server.js');
    const { tempRoot, until } = await import('../helpers.js');
    const root = await tempRoot();
    const secret = 'prepare-secret-0123456789abcdefghijkl';
    const server = await OwnerServer.listen({ transport: 'tcp', root: root.dir, instanceId: 'o', name: 'o', secret, clock: systemClock });
    server.serve(1, () => undefined, { onJoin: () => undefined, onMessage: () => undefined, onLeave: () => undefined });
    try {
      const prepared = FollowerLink.prepare({
        endpoint: server.endpoint,
        secret,
        instanceId: 'f',
        name: 'f',
        minEpoch: 0,
        clock: systemClock,
        welcomeTimeoutMs: null,
      });
      const link = await prepared.link;
      await until(() => server.peers().length === 1, 2000, 'joined');
      prepared.cancel();
      await until(() => server.peers().length === 0, 2000, 'the owner sees the link gone');
      assert.equal(link.closed, true);
    } finally {
      await server.close();
      await root.remove();
    }
  });
});
