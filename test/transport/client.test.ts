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

const welcome = frame(
  0x81,
  JSON.stringify({ t: 'welcome', v: PROTOCOL_VERSION, epoch: 1, ownerId: 'o', instances: [], maxPayload: 1 << 20, sv: 0 }),
  { masked: false },
);

/**
 * A fake owner on loopback: completes the WebSocket handshake, then calls `upgraded` with the socket and
 * `frames` with every byte the follower sends after its upgrade request.
 */
async function fakeOwner(upgraded: (s: Socket) => void, frames: (bytes: Buffer) => void = () => undefined) {
  const server = createServer((s: Socket) => {
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let done = false;
    s.on('data', (d: Buffer) => {
      if (done) return frames(d);
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('latin1');
      const m = /Sec-WebSocket-Key: (\S+)/i.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (!m || end < 0) return;
      done = true;
      const accept = createHash('sha1').update(`${m[1]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      upgraded(s);
      if (end + 4 < buf.length) frames(buf.subarray(end + 4));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, endpoint: `ws://127.0.0.1:${(server.address() as { port: number }).port}/` };
}

const opts = (endpoint: string) => ({
  endpoint,
  secret: 's',
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
    const fake = await fakeOwner((s) => {
      if (welcomed) s.write(welcome);
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

describe('FollowerLink against an owner of another protocol or state version', () => {
  /** What the follower sends after its hello: the code of its close frame (masked with a zero key). */
  const closeCodeOf = () => {
    let sent = Buffer.alloc(0);
    const seen: { code?: number } = {};
    const onBytes = (d: Buffer) => {
      sent = Buffer.concat([sent, d]);
      for (let at = 0; at + 8 <= sent.length; ) {
        const len = sent[at + 1]! & 0x7f;
        if (len > 125) break;
        if (sent[at] === 0x88) seen.code = sent.readUInt16BE(at + 6);
        at += 6 + len;
      }
    };
    return { seen, onBytes };
  };
  const isError = (code: string, field: string | undefined, message: RegExp) => (e: unknown) =>
    e instanceof LeaseholdError && e.code === code && e.field === field && message.test(e.message);

  it('a newer owner’s welcome (whose other fields need not decode): refused with 4002, EOUTDATED naming both versions', async () => {
    const { seen, onBytes } = closeCodeOf();
    const other = { t: 'welcome', v: PROTOCOL_VERSION + 1, epoch: 1, ownerId: 'o', somethingNew: true };
    const { server, endpoint } = await fakeOwner((s) => s.write(frame(0x81, JSON.stringify(other), { masked: false })), onBytes);
    try {
      await assert.rejects(
        FollowerLink.connect(opts(endpoint)),
        isError('EOUTDATED', 'protocol', new RegExp(`protocol ${PROTOCOL_VERSION + 1}, newer than this app's ${PROTOCOL_VERSION}: restart`)),
      );
      await until(() => seen.code, 2000, 'the close frame');
      assert.equal(seen.code, CloseCode.VERSION);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('an owner that refuses the hello with 4002 "protocol N": EOUTDATED when N is newer, EPROTOCOL (wait) when older', async () => {
    for (const [n, code, field] of [
      [PROTOCOL_VERSION + 1, 'EOUTDATED', 'protocol'],
      [PROTOCOL_VERSION - 1, 'EPROTOCOL', undefined],
    ] as const) {
      const reason = Buffer.from(`protocol ${n}`);
      const close = frame(0x88, Buffer.concat([Buffer.from([0x0f, 0xa2]), reason]), { masked: false }); // 4002
      const { server, endpoint } = await fakeOwner((s) => s.write(close));
      try {
        await assert.rejects(FollowerLink.connect(opts(endpoint)), isError(code, field, new RegExp(`protocol ${n}`)));
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    }
  });

  it('a welcome whose state version is newer than the code’s: EOUTDATED; not when equal, older, or the code names none', async () => {
    const welcomeAt = (sv: number) =>
      frame(0x81, JSON.stringify({ t: 'welcome', v: PROTOCOL_VERSION, epoch: 1, ownerId: 'o', instances: [], maxPayload: 1 << 20, sv }), {
        masked: false,
      });
    for (const [sv, own, outdated] of [
      [3, 2, true],
      [2, 2, false],
      [1, 2, false],
      [5, undefined, false],
    ] as const) {
      const { server, endpoint } = await fakeOwner((s) => s.write(welcomeAt(sv)));
      try {
        const connecting = FollowerLink.connect({ ...opts(endpoint), stateVersion: own });
        if (outdated) await assert.rejects(connecting, isError('EOUTDATED', 'stateVersion', /state version 3, newer than this app's 2/));
        else (await connecting).close(true);
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
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
