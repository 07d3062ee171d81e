/**
 * App instances as separate processes (bench/fixtures/soak-peer.ts), for the benchmarks that kill an owner
 * among them: start peers, wait for an owner with every other peer connected to it, kill the owner and time
 * the takeover, and (with LEASEHOLD_DEBUG=1) print every process's steps on one timeline.
 */
import { readdirSync } from 'node:fs';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, type Proc } from '../test/integration/proc.js';
import { delay } from '../test/helpers.js';
import { systemClock } from '../src/clock.js';

const PEER = joinPath(dirname(fileURLToPath(import.meta.url)), 'fixtures/soak-peer.js');

export type Peer = { name: string; proc: Proc };

/** Starts peers; every process started is in `procs` (for killAll). */
export class PeerCluster {
  readonly procs: Proc[] = [];
  #n = 0;

  start(root: string, name = `p${++this.#n}`): Peer {
    const proc = spawnNode(PEER, [root, name]);
    this.procs.push(proc);
    return { name, proc };
  }
}

const ownerOf = (peers: Peer[], epoch: number) =>
  peers.find((p) => p.proc.lines.some((l) => l.ev === 'role' && l.role === 'owner' && (l.epoch as number) > epoch));
const at = (p: Peer, pred: (l: Record<string, unknown>) => boolean) => p.proc.lines.find(pred)?.t as number | undefined;

/** Waits for an owner of an epoch above `epoch` and every other live peer connected to it. */
export async function settled(peers: Peer[], epoch: number, timeoutMs = 30_000): Promise<{ owner: Peer; epoch: number; doneAt: number }> {
  const deadline = systemClock.now() + timeoutMs;
  for (;;) {
    const owner = ownerOf(peers, epoch);
    if (owner) {
      const e = owner.proc.lines.find((l) => l.ev === 'role' && l.role === 'owner' && (l.epoch as number) > epoch)!.epoch as number;
      const times = peers.filter((p) => p !== owner).map((p) => at(p, (l) => l.ev === 'connected' && l.epoch === e));
      if (times.every((t) => t !== undefined))
        return {
          owner,
          epoch: e,
          doneAt: Math.max(
            at(owner, (l) => l.ev === 'role' && l.role === 'owner' && l.epoch === e)!,
            ...(times as number[]),
          ),
        };
    }
    if (systemClock.now() > deadline) throw new Error(`no settled owner above epoch ${epoch} within ${timeoutMs} ms`);
    await delay(5);
  }
}

/** Kills the owner; ms from the kill to the next owner serving with every other peer connected. */
export async function takeover(
  peers: Peer[],
  owner: Peer,
  epoch: number,
): Promise<{ ms: number; owner: Peer; epoch: number; killedAt: number }> {
  const t0 = systemClock.now();
  owner.proc.child.kill('SIGKILL');
  await owner.proc.exited;
  const live = peers.filter((p) => p !== owner);
  const s = await settled(live, epoch);
  return { ms: s.doneAt - t0, owner: s.owner, epoch: s.epoch, killedAt: t0 };
}

/**
 * With LEASEHOLD_DEBUG=1 (passed on to the peers): their debug lines from the kill on, one timeline in
 * ms after the kill (the clock is the same CLOCK_MONOTONIC in every process).
 */
export function printTimeline(what: string, peers: Peer[], killedAt: number): void {
  if (!process.env.LEASEHOLD_DEBUG) return;
  const lines = peers
    .flatMap((p) =>
      p.proc.stderr.split('\n').map((l) => ({ t: Number(l.split(' ')[1]), l: l.replace(/^leasehold\[\d+\] \S+ /, ''), name: p.name })),
    )
    .filter((x) => x.t >= killedAt)
    .sort((a, b) => a.t - b.t);
  process.stderr.write(`takeover ${what}, ms after the SIGKILL:\n`);
  for (const x of lines) process.stderr.write(`  ${(x.t - killedAt).toFixed(1).padStart(6)} ${x.name.padEnd(5)} ${x.l}\n`);
}

/** The journal's directory under a data root: the one holding its parts. */
export function journalDir(root: string): string | undefined {
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true }))
    if (e.isFile() && /^journal-\d+-\d+\.log$/.test(e.name)) return e.parentPath;
  return undefined;
}
