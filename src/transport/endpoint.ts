/**
 * Where an owner listens: 127.0.0.1 on a random port (default), or a Unix domain socket in a 0700
 * directory (a named pipe on Windows). Endpoints are strings: `ws://127.0.0.1:PORT/` or
 * `ws+unix:/path/to.sock:/` (ws's own URL form for sockets).
 * The socket directory is `<root>/run`, or for a root too long for a socket path a directory of this user's
 * in the temp dir: either is created 0700 and checked before use (ours, not writable by group or others,
 * not a symbolic link; see private-files.ts), so that nobody else can plant or replace a socket there.
 */
import { createHash } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { ensurePrivateDir } from '../private-files.js';

export type TransportKind = 'tcp' | 'ipc';

/** Unix socket paths are limited to 104 (macOS) / 108 (Linux) bytes. */
const MAX_SOCKET_PATH = 100;

export function ipcPath(root: string, instanceId: string): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\leasehold-${hash(root)}-${instanceId}`;
  let base = root;
  let name = 'run';
  if (Buffer.byteLength(join(base, name, `${instanceId}.sock`)) > MAX_SOCKET_PATH) {
    // A long data root: use a private directory under the temp dir, named after the root. Others can
    // create that name first (it is predictable): the check refuses it then, rather than using theirs.
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    base = tmpdir();
    name = `leasehold-${uid}-${hash(root)}`;
  }
  return join(ensurePrivateDir(nodeFs, base, [name]), `${instanceId}.sock`);
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

export function tcpEndpoint(port: number): string {
  return `ws://127.0.0.1:${port}/`;
}

export function ipcEndpoint(path: string): string {
  return `ws+unix:${path}:/`;
}

/** The socket path of an ipc endpoint, or undefined for tcp. */
export function socketPathOf(endpoint: string): string | undefined {
  if (!endpoint.startsWith('ws+unix:')) return undefined;
  const rest = endpoint.slice('ws+unix:'.length);
  const i = rest.lastIndexOf(':');
  return i < 0 ? rest : rest.slice(0, i);
}

/**
 * Whether `endpoint` can be reached only from the machine that listens on it: every endpoint an owner
 * advertises is (127.0.0.1, or a Unix socket), so a holder on another host is unreachable from here.
 */
export function isHostLocal(endpoint: string): boolean {
  return endpoint.startsWith('ws://127.0.0.1:') || endpoint.startsWith('ws://localhost:') || endpoint.startsWith('ws+unix:');
}

/** Removes a socket file left behind by a killed owner (only if it is a socket). */
export function removeStaleSocket(path: string): void {
  if (process.platform === 'win32') return;
  try {
    if (nodeFs.lstatSync(path).isSocket()) nodeFs.unlinkSync(path);
  } catch {
    // gone already
  }
}

/** Binds `http` to a new endpoint of `transport` (a stale socket file of the same name is removed first). */
export async function bind(
  http: Server,
  transport: TransportKind,
  root: string,
  instanceId: string,
): Promise<{ endpoint: string; port: number | undefined; socketPath: string | undefined }> {
  const listening = (...args: [string] | [number, string]) =>
    new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(...(args as [number, string]), () => (http.off('error', reject), resolve()));
    });
  if (transport === 'ipc') {
    const socketPath = ipcPath(root, instanceId);
    removeStaleSocket(socketPath);
    await listening(socketPath);
    return { endpoint: ipcEndpoint(socketPath), port: undefined, socketPath };
  }
  await listening(0, '127.0.0.1');
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { endpoint: tcpEndpoint(port), port, socketPath: undefined };
}
