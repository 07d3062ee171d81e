/**
 * What an upgrade request must look like before a WebSocket is made for it. Pure: headers in, verdict out.
 *
 * Checked in this order, each refusal an HTTP status written before any frame exists:
 *  1. no `Origin` (nor `Sec-WebSocket-Origin`) header: every browser sends one, so no web page ever gets a
 *     socket to the owner → 403;
 *  2. `Host` names this listener on loopback: `127.0.0.1:<port>`, `localhost:<port>` or `[::1]:<port>` for
 *     TCP; `localhost` or none for a Unix socket. A page on a rebinding DNS name (attacker.example
 *     resolving to 127.0.0.1) would send its own name → 403;
 *  3. `Authorization: Bearer <secret>` with this listener's secret (constant-time comparison) → 401.
 * Guarantees: a request refused here never reaches ws, so nothing from it is ever parsed as a frame.
 * Not guaranteed: anything about a process that can read the lease record (it holds the secret).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { bearer, secretsEqual } from './secret.js';

export const HTTP_FORBIDDEN = 403;
export const HTTP_UNAUTHORIZED = 401;

export interface UpgradeRefusal {
  status: typeof HTTP_FORBIDDEN | typeof HTTP_UNAUTHORIZED;
  reason: string;
}

/** `port`: the TCP port listened on, or undefined for a Unix socket. */
export function checkUpgrade(headers: IncomingHttpHeaders, secret: string, port: number | undefined): UpgradeRefusal | undefined {
  if (headers.origin !== undefined || headers['sec-websocket-origin'] !== undefined)
    return { status: HTTP_FORBIDDEN, reason: 'browser origins are refused' };
  if (!hostAllowed(headers.host, port)) return { status: HTTP_FORBIDDEN, reason: 'unexpected Host header' };
  const presented = bearer(headers.authorization);
  if (presented === undefined || !secretsEqual(presented, secret)) return { status: HTTP_UNAUTHORIZED, reason: 'unauthorized' };
  return undefined;
}

export function hostAllowed(host: string | undefined, port: number | undefined): boolean {
  if (port === undefined) return host === undefined || host.toLowerCase() === 'localhost';
  if (host === undefined) return false;
  const h = host.toLowerCase();
  return h === `127.0.0.1:${port}` || h === `localhost:${port}` || h === `[::1]:${port}`;
}

/** The bytes of a refusal: a complete HTTP response that closes the connection. */
export function refusalResponse(r: UpgradeRefusal): string {
  const text = r.status === HTTP_FORBIDDEN ? 'Forbidden' : 'Unauthorized';
  return `HTTP/1.1 ${r.status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${r.reason.length + 1}\r\n\r\n${r.reason}\n`;
}
