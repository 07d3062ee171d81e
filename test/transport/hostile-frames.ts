/**
 * Raw bytes for hostile-input tests: upgrade requests and WebSocket frames that break RFC 6455 in each way
 * ws's receiver can detect (every `WS_ERR_*` it raises), built by hand so that no library repairs them.
 */
import { createConnection, type Socket } from 'node:net';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** An upgrade request; `secret` adds the bearer header, `host` overrides the Host header. */
export function upgradeRequest(port: number | undefined, options: { secret?: string; host?: string | null; origin?: string } = {}): Buffer {
  const host = options.host === undefined ? (port === undefined ? 'localhost' : `127.0.0.1:${port}`) : options.host;
  const lines = ['GET / HTTP/1.1'];
  if (host !== null) lines.push(`Host: ${host}`);
  lines.push('Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13');
  if (options.secret !== undefined) lines.push(`Authorization: Bearer ${options.secret}`);
  if (options.origin !== undefined) lines.push(`Origin: ${options.origin}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n');
}

/** One frame: `first` is the FIN/RSV/opcode byte; masked with a non-zero key unless `masked` is false. */
export function frame(first: number, payload: Buffer | string, options: { masked?: boolean; length?: bigint } = {}): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const masked = options.masked ?? true;
  const len = options.length ?? BigInt(body.length);
  let header: Buffer;
  if (len < 126n) header = Buffer.from([first, (masked ? 0x80 : 0) | Number(len)]);
  else if (len < 65536n) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = (masked ? 0x80 : 0) | 126;
    header.writeUInt16BE(Number(len), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(len, 2);
  }
  if (!masked) return Buffer.concat([header, body]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const out = Buffer.from(body);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[i % 4]!;
  return Buffer.concat([header, key, out]);
}

/** Frames that each violate the protocol, named by the ws error they raise on a server. */
export function violations(maxPayload: number): Record<string, Buffer> {
  const closeCode = (code: number, reason = '') => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
  return {
    WS_ERR_EXPECTED_MASK: frame(0x81, '', { masked: false }),
    WS_ERR_EXPECTED_MASK_with_payload: frame(0x81, '{"t":"hello"}', { masked: false }),
    WS_ERR_UNEXPECTED_RSV_1: frame(0xc1, 'x'),
    WS_ERR_UNEXPECTED_RSV_2_3: frame(0xb1, 'x'),
    WS_ERR_INVALID_OPCODE_reserved: frame(0x83, 'x'),
    WS_ERR_INVALID_OPCODE_continuation_first: frame(0x80, 'x'),
    WS_ERR_INVALID_OPCODE_data_inside_fragments: Buffer.concat([frame(0x01, 'a'), frame(0x01, 'b')]),
    WS_ERR_EXPECTED_FIN_control: frame(0x09, 'x'),
    WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: frame(0x89, Buffer.alloc(126)),
    WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH_close_1_byte: frame(0x88, Buffer.from([3])),
    WS_ERR_INVALID_CLOSE_CODE: frame(0x88, closeCode(999)),
    WS_ERR_INVALID_UTF8_close_reason: frame(0x88, Buffer.concat([closeCode(1000), Buffer.from([0xc3, 0x28])])),
    WS_ERR_INVALID_UTF8_text: frame(0x81, Buffer.from([0xc3, 0x28])),
    WS_ERR_INVALID_UTF8_fragmented: Buffer.concat([frame(0x01, Buffer.from([0xe2, 0x82])), frame(0x80, Buffer.from([0x28]))]),
    WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: frame(0x81, '', { length: BigInt(maxPayload + 1) }),
    WS_ERR_UNSUPPORTED_MESSAGE_LENGTH_fragments: Buffer.concat([
      frame(0x01, Buffer.alloc(Math.ceil(maxPayload / 2) + 1, 0x20)),
      frame(0x80, Buffer.alloc(Math.ceil(maxPayload / 2) + 1, 0x20)),
    ]),
    WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: frame(0x81, '', { length: 2n ** 63n + 5n }),
  };
}

/** Opens a raw TCP (or Unix socket) connection and resolves once it is connected; errors are swallowed. */
export function rawConnect(target: { port: number } | { path: string }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = 'port' in target ? createConnection({ host: '127.0.0.1', port: target.port }) : createConnection({ path: target.path });
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Writes `bytes` and resolves with everything the peer sent until it closed (or `waitMs` passed). */
export async function exchangeRaw(
  target: { port: number } | { path: string },
  bytes: Buffer[],
  waitMs = 500,
): Promise<{ reply: Buffer; closed: boolean }> {
  const s = await rawConnect(target);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise<boolean>((resolve) => s.once('close', () => resolve(true)));
  for (const b of bytes) s.write(b);
  const done = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), waitMs))]);
  s.destroy();
  return { reply: Buffer.concat(chunks), closed: done };
}

/** The HTTP status of a reply, or undefined when it is not an HTTP response. */
export function httpStatus(reply: Buffer): number | undefined {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(reply.subarray(0, 32).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
