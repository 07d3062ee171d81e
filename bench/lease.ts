/**
 * Lease benchmarks (issue: the lease core). Real processes on a temp data root.
 *  - graceful release → the waiting process holds the lease           (target p50 ≤ 10 ms)
 *  - holder SIGKILLed → the waiting process holds the lease            (target p50 ≤ 100 ms)
 *  - holder SIGSTOPped → taken over within ttl + one renew interval, and the stopped holder learns of it
 * Baselines from the same run: one fdatasync of a small file; proper-lockfile's own stale takeover.
 */
import { openSync, writeSync, fdatasyncSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/clock.js';
import { spawnNode, killAll, type Proc } from '../test/integration/proc.js';
import { summarize, type Row } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const CONTENDER = join(here, 'fixtures/lease-contender.js');
const LOCKFILE = join(here, 'fixtures/lockfile-contender.js');
const KEY = '/app/bench/owner';
const t = (l: Record<string, unknown>) => l.t as number;

export function fsyncBaseline(dir: string, n = 300): number[] {
  const fd = openSync(join(dir, 'fsync-probe'), 'w');
  const buf = Buffer.alloc(200, 'x');
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    writeSync(fd, buf, 0, buf.length, 0);
    const a = systemClock.now();
    fdatasyncSync(fd);
    out.push((systemClock.now() - a) * 1000);
  }
  closeSync(fd);
  return out;
}

/** Two contenders; returns [holder, waiter] once one holds and the other is waiting. */
async function pair(dir: string, ttl: number, existing: Proc[] = []): Promise<[Proc, Proc]> {
  const procs = [...existing];
  while (procs.length < 2) procs.push(spawnNode(CONTENDER, [dir, KEY, String(ttl)]));
  const holder = await Promise.race(
    procs.map((p) => p.waitFor((l) => l.ev === 'acquired' && !p.lines.some((x) => x.ev === 'releasing' && t(x) > t(l))).then(() => p)),
  );
  const waiter = procs.find((p) => p !== holder)!;
  await waiter.waitFor((l) => l.ev === 'waiting');
  return [holder, waiter];
}

export async function leaseBench(iterations = 30): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-bench-'));
  const rows: Row[] = [];
  const all: Proc[] = [];
  try {
    rows.push(
      summarize(
        'lease',
        'fdatasync (baseline)',
        'ms',
        fsyncBaseline(dir).map((us) => us / 1000),
      ),
    );

    // Graceful: the two processes alternate; each release hands over to the other.
    {
      const samples: number[] = [];
      let [holder, waiter] = await pair(join(dir, 'g'), 5000);
      all.push(holder, waiter);
      for (let i = 0; i < iterations; i++) {
        const before = waiter.lines.length;
        const hb = holder.lines.length;
        holder.send('release');
        const rel = await holder.waitFor((l) => l.ev === 'releasing' && holder.lines.indexOf(l) >= hb);
        const acq = await waiter.waitFor((l) => l.ev === 'acquired' && waiter.lines.indexOf(l) >= before);
        samples.push(t(acq) - t(rel));
        await holder.waitFor((l) => l.ev === 'waiting' && t(l) > t(rel));
        [holder, waiter] = [waiter, holder];
      }
      rows.push(
        summarize('lease', 'release → other process holds', 'ms', samples, {
          baseline: 'fdatasync (baseline)',
          target: { value: 10, kind: 'max', of: 'p50' },
        }),
      );
    }

    // SIGKILL: kill the holder; the waiter takes over; a fresh process becomes the next waiter.
    {
      const samples: number[] = [];
      let [holder, waiter] = await pair(join(dir, 'k'), 5000);
      all.push(holder, waiter);
      for (let i = 0; i < iterations; i++) {
        const before = waiter.lines.length;
        const killedAt = systemClock.now();
        holder.child.kill('SIGKILL');
        const acq = await waiter.waitFor((l) => l.ev === 'acquired' && waiter.lines.indexOf(l) >= before);
        samples.push(t(acq) - killedAt);
        await holder.exited;
        const fresh = spawnNode(CONTENDER, [join(dir, 'k'), KEY, '5000']);
        all.push(fresh);
        [holder, waiter] = await pair(join(dir, 'k'), 5000, [waiter, fresh]);
      }
      rows.push(
        summarize('lease', 'SIGKILL holder → other holds', 'ms', samples, {
          baseline: 'proper-lockfile stale takeover (baseline)',
          target: { value: 100, kind: 'max', of: 'p50' },
        }),
      );
    }

    // proper-lockfile alone: the waiter can only take over once the lock is stale (≥ 2000 ms by design).
    {
      const samples: number[] = [];
      const file = join(dir, 'plf');
      for (let i = 0; i < 4; i++) {
        const holder = spawnNode(LOCKFILE, [file]);
        all.push(holder);
        await holder.waitFor((l) => l.ev === 'acquired');
        const waiter = spawnNode(LOCKFILE, [file]);
        all.push(waiter);
        await waiter.waitFor((l) => l.ev === 'waiting');
        const killedAt = systemClock.now();
        holder.child.kill('SIGKILL');
        const acq = await waiter.waitFor((l) => l.ev === 'acquired', 10_000);
        samples.push(t(acq) - killedAt);
        waiter.child.kill('SIGKILL');
        await waiter.exited;
      }
      rows.splice(1, 0, summarize('lease', 'proper-lockfile stale takeover (baseline)', 'ms', samples));
    }

    // SIGSTOP: taken over within ttl + one renew interval; the stopped holder reports the loss on SIGCONT.
    {
      const ttl = 1000;
      const renew = Math.floor(ttl / 3);
      const takeover: number[] = [];
      const learn: number[] = [];
      const [holder, waiter] = await pair(join(dir, 's'), ttl);
      all.push(holder, waiter);
      let h = holder;
      let w = waiter;
      for (let i = 0; i < 5; i++) {
        const before = w.lines.length;
        const stoppedAt = systemClock.now();
        h.child.kill('SIGSTOP');
        const acq = await w.waitFor((l) => l.ev === 'acquired' && w.lines.indexOf(l) >= before, 5000);
        takeover.push(t(acq) - stoppedAt);
        const hb = h.lines.length;
        const contAt = systemClock.now();
        h.child.kill('SIGCONT');
        const lost = await h.waitFor((l) => l.ev === 'lost' && h.lines.indexOf(l) >= hb, 5000);
        learn.push(t(lost) - contAt);
        await h.waitFor((l) => l.ev === 'waiting' && t(l) > contAt);
        [h, w] = [w, h];
      }
      rows.push(
        summarize('lease', `SIGSTOP holder (ttl ${ttl}) → other holds`, 'ms', takeover, {
          target: { value: ttl + renew, kind: 'max', of: 'p50', note: 'ttl + renew interval' },
        }),
      );
      rows.push(summarize('lease', 'SIGCONT → stopped holder reports lost', 'ms', learn));
    }
    return rows;
  } finally {
    await killAll(all);
    rmSync(dir, { recursive: true, force: true });
  }
}
