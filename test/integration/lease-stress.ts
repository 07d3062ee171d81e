/**
 * Real processes (fixtures/lease-worker.ts) contend for one lease while the parent injects seeded faults:
 * SIGKILL of the holder, SIGSTOP/SIGCONT of the holder past its ttl, graceful releases, SIGKILL of a
 * waiter, and whatever faults of the store the caller adds (an etcd member killed or stopped). The
 * checker (chaos/checker.ts) finds two holders at once or an epoch that does not rise; a holder stopped
 * past its ttl must report its loss when it runs again. Replay a failure with LEASEHOLD_SEED=<seed>.
 */
import { systemClock } from '../../src/clock.js';
import type { LeaseStore } from '../../src/lease/store.js';
import { around, checkLeaseLog, rng, type LoggedEvent, type Violation } from '../chaos/checker.js';
import { delay } from '../helpers.js';
import { killAll, outPath, spawnNode, type Proc } from './proc.js';

const WORKER = outPath('../fixtures/lease-worker.js');

export interface StoreFault {
  name: string;
  /** Injects the fault (and undoes it, if it is undone) before resolving; `log` adds a line to the log. */
  run(rand: () => number, log: (ev: string) => void): Promise<void>;
}

export interface StressOptions {
  /** The workers' store argument: a data root, or `etcd:<hosts>`. */
  where: string;
  /** A store of the same backing, to find the holder. */
  observer: LeaseStore;
  key: string;
  ttlMs: number;
  /** How long a holder holds before releasing (± half). */
  holdMs: number;
  rounds: number;
  workers?: number;
  /** Each round picks one of these with this probability in all (shared equally), else a holder fault. */
  storeFaults?: { share: number; faults: StoreFault[] };
}

export interface StressResult {
  seed: number;
  violations: Violation[];
  acquisitions: number;
  counts: Record<string, number>;
  /** The violations with the log around each, for an assertion message. */
  report: string;
}

export async function runLeaseStress(o: StressOptions): Promise<StressResult> {
  const seed = Number(process.env.LEASEHOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rand = rng(seed);
  const events: LoggedEvent[] = [];
  const procs = new Map<number, Proc>();
  const start = () => {
    const p = spawnNode(WORKER, [o.where, o.key, String(o.ttlMs), String(o.holdMs)], (line) => events.push(line as unknown as LoggedEvent));
    procs.set(p.pid, p);
    return p;
  };
  const stops: { pid: number; epoch: number; resumedAt: number }[] = [];
  const counts: Record<string, number> = { kill: 0, stop: 0, release: 0, killWaiter: 0 };
  const holderOf = async () => {
    // Holders release every holdMs: look for one (known to this test) for up to 500 ms.
    for (let i = 0; i < 100; i++) {
      const holder = await o.observer.inspect(o.key).catch(() => undefined);
      if (holder && procs.get(holder.pid)) return { hp: procs.get(holder.pid)!, epoch: holder.epoch };
      await delay(5);
    }
    return undefined;
  };
  try {
    for (let i = 0; i < (o.workers ?? 5); i++) start();
    await Promise.all([...procs.values()].map((p) => p.waitFor((l) => l.ev === 'start')));
    for (let round = 0; round < o.rounds; round++) {
      await delay(40 + rand() * 120);
      const sf = o.storeFaults;
      if (sf && sf.faults.length > 0 && rand() < sf.share) {
        const fault = sf.faults[Math.floor(rand() * sf.faults.length)]!;
        await fault.run(rand, (ev) => events.push({ t: systemClock.now(), pid: 0, ev: `parent:${ev}`, epoch: 0 }));
        counts[fault.name] = (counts[fault.name] ?? 0) + 1;
        continue;
      }
      const found = await holderOf();
      const roll = rand();
      if (found && roll < 0.3) {
        events.push({ t: systemClock.now(), pid: found.hp.pid, ev: 'parent:SIGKILL', epoch: found.epoch });
        found.hp.child.kill('SIGKILL');
        procs.delete(found.hp.pid);
        counts.kill!++;
        start();
      } else if (found && roll < 0.5) {
        events.push({ t: systemClock.now(), pid: found.hp.pid, ev: 'parent:SIGSTOP', epoch: found.epoch });
        found.hp.child.kill('SIGSTOP');
        await delay(o.ttlMs * (1.3 + rand()));
        found.hp.child.kill('SIGCONT');
        const resumedAt = systemClock.now();
        events.push({ t: resumedAt, pid: found.hp.pid, ev: 'parent:SIGCONT', epoch: found.epoch });
        stops.push({ pid: found.hp.pid, epoch: found.epoch, resumedAt });
        counts.stop!++;
      } else if (found && roll < 0.8) {
        found.hp.send('release');
        counts.release!++;
      } else {
        const waiters = [...procs.values()].filter((p) => p !== found?.hp);
        const victim = waiters[Math.floor(rand() * waiters.length)];
        if (victim) {
          victim.child.kill('SIGKILL');
          procs.delete(victim.pid);
          counts.killWaiter!++;
          start();
        }
      }
    }
    await delay(o.ttlMs);
  } finally {
    await killAll(procs.values());
  }
  const violations = checkLeaseLog(events);
  // A worker that crashed stopped contending: the faults it met were not survived.
  for (const e of events.filter((x) => x.ev === 'crash')) violations.push({ what: `pid ${e.pid} crashed: ${String(e.message)}`, at: e.t });
  for (const s of stops) {
    // It must report the loss when it runs again (or had begun releasing when it was stopped: it then
    // reports 'released', and no act follows).
    const learned = events.some((e) => e.pid === s.pid && (e.ev === 'lost' || e.ev === 'released') && e.epoch === s.epoch);
    if (!learned)
      violations.push({
        what: `pid ${s.pid} was stopped past its ttl holding epoch ${s.epoch} and never reported the loss`,
        at: s.resumedAt,
      });
  }
  const acquisitions = events.filter((e) => e.ev === 'acquired').length;
  const report = violations.map((v) => `${v.what}\n${around(events, v.at)}`).join('\n\n');
  return { seed, violations, acquisitions, counts, report };
}
