/**
 * A real etcd for tests and benchmarks: Debian's etcd-server (3.4) on loopback ports, its data in a temp
 * directory: one member (startEtcd), or a cluster of three (startEtcdCluster) whose members can be killed,
 * restarted and stopped. With `fast` (the tests) the election timeout is 500 ms (heartbeat 50 ms), so that
 * etcd grants leases of 1 s (its minimum ttl is 1.5 election timeouts, rounded up to whole seconds); else
 * etcd's defaults (1 s, 100 ms: leases of 2 s at least), as the benchmarks compare it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { delay } from '../helpers.js';

export const ETCD_BIN = '/usr/bin/etcd';
const NOT_INSTALLED = 'etcd is not installed (apt-get install -y etcd-server)';

export interface EtcdMember {
  name: string;
  /** The client URL. */
  endpoint: string;
  /** The running process (replaced by start()). */
  child: ChildProcess;
  /** SIGKILL, and wait for the exit. */
  stop(): Promise<void>;
  /** Starts it again on its data (after stop()). */
  start(): void;
  /** True when this member is the cluster's leader now. */
  isLeader(): Promise<boolean>;
}

export type EtcdServer = EtcdMember;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function member(dir: string, name: string, client: number, peer: number, cluster: string, fast: boolean): EtcdMember {
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const args = [
    `--name=${name}`,
    `--data-dir=${join(dir, `etcd-${name}`)}`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${cluster}`,
    ...(fast ? ['--heartbeat-interval=50', '--election-timeout=500'] : []),
    '--log-level=error',
  ];
  let exited: Promise<void> = Promise.resolve();
  const m: EtcdMember = {
    name,
    endpoint,
    child: undefined as unknown as ChildProcess,
    start() {
      m.child = spawn(ETCD_BIN, args, { stdio: 'ignore' });
      const child = m.child;
      exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    },
    async stop() {
      const child = m.child;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await exited;
    },
    async isLeader() {
      const r = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}' });
      const s = (await r.json()) as { header?: { member_id?: string }; leader?: string };
      return s.header?.member_id !== undefined && s.header.member_id === s.leader;
    },
  };
  m.start();
  return m;
}

/** Waits until every member answers healthy (which needs a leader); a string says what did not. */
async function healthy(members: EtcdMember[]): Promise<string | undefined> {
  for (let i = 0; i < 150; i++) {
    const dead = members.find((m) => m.child.exitCode !== null);
    if (dead) return `etcd member ${dead.name} exited with status ${dead.child.exitCode} at start`;
    const ok = await Promise.all(
      members.map((m) =>
        fetch(`${m.endpoint}/health`).then(
          (r) => r.ok,
          () => false,
        ),
      ),
    );
    if (ok.every(Boolean)) return undefined;
    await delay(100);
  }
  return `etcd did not become healthy in 15 s`;
}

/** Starts one etcd with its data in `dir`; a string says why it could not be (not installed, not healthy). */
export async function startEtcd(dir: string, o: { fast?: boolean } = {}): Promise<EtcdServer | string> {
  const cluster = await startEtcdCluster(dir, 1, o);
  return typeof cluster === 'string' ? cluster : cluster[0]!;
}

/** Starts a cluster of `n` members with their data under `dir`; a string says why it could not be. */
export async function startEtcdCluster(dir: string, n: number, o: { fast?: boolean } = {}): Promise<EtcdMember[] | string> {
  if (!existsSync(ETCD_BIN)) return NOT_INSTALLED;
  const ports: [number, number][] = [];
  for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort()]);
  const cluster = ports.map(([, peer], i) => `m${i}=http://127.0.0.1:${peer}`).join(',');
  const members = ports.map(([client, peer], i) => member(dir, `m${i}`, client, peer, cluster, o.fast === true));
  const problem = await healthy(members);
  if (problem === undefined) return members;
  await Promise.all(members.map((m) => m.stop()));
  return problem;
}
