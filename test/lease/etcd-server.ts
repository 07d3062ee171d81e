/**
 * A real etcd for tests and benchmarks: Debian's etcd-server (3.4), one member on loopback ports in a temp
 * directory. With `fast` (the tests) its election timeout is 500 ms (heartbeat 50 ms), so that it grants
 * leases of 1 s (its minimum ttl is 1.5 election timeouts, rounded up to whole seconds); else etcd's
 * defaults (1 s, 100 ms: leases of 2 s at least), as the benchmarks compare it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { delay } from '../helpers.js';

export const ETCD_BIN = '/usr/bin/etcd';

export interface EtcdServer {
  endpoint: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts etcd with its data in `dir`; a string says why it could not be (not installed, not healthy). */
export async function startEtcd(dir: string, o: { fast?: boolean } = {}): Promise<EtcdServer | string> {
  if (!existsSync(ETCD_BIN)) return 'etcd is not installed (apt-get install -y etcd-server)';
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn(
    ETCD_BIN,
    [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      ...(o.fast ? ['--heartbeat-interval=50', '--election-timeout=500'] : []),
      '--log-level=error',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await exited;
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) return `etcd exited with status ${child.exitCode} at start`;
    try {
      const r = await fetch(`${endpoint}/health`);
      if (r.ok) return { endpoint, child, stop };
    } catch {
      // starting
    }
    await delay(100);
  }
  await stop();
  return 'etcd did not become healthy in 10 s';
}
