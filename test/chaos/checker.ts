/**
 * Invariant checkers over the event logs of many processes (the model is proper-lockfile's stress
 * fixture: every worker logs, the parent fails on any overlap).
 *
 * Events carry CLOCK_MONOTONIC times, comparable across processes on one machine.
 */
export interface LoggedEvent {
  t: number;
  pid: number;
  ev: string;
  epoch?: number;
  at?: number;
  [k: string]: unknown;
}

export interface Violation {
  what: string;
  at: number;
}

/**
 * 1. every epoch is acquired once, and no higher epoch was provably acquired before a lower one;
 * 2. no guarded action of epoch e happens after an epoch > e was acquired (two holders at once).
 */
export function checkLeaseLog(events: LoggedEvent[]): Violation[] {
  const out: Violation[] = [];
  // An acquisition happened somewhere in [startedAt, t] (t is logged after it returned, and a stopped
  // process logs late): epochs fall only if e' > e was provably acquired before e started.
  const acquired = events.filter((e) => e.ev === 'acquired').sort((a, b) => a.t - b.t);
  const seen = new Map<number, LoggedEvent>();
  for (const a of acquired) {
    const epoch = a.epoch!;
    if (seen.has(epoch)) out.push({ what: `epoch ${epoch} acquired twice (pids ${seen.get(epoch)!.pid} and ${a.pid})`, at: a.t });
    seen.set(epoch, a);
  }
  for (const a of acquired)
    for (const b of acquired)
      if (b.epoch! > a.epoch! && b.t < ((a.startedAt as number | undefined) ?? a.t))
        out.push({ what: `epoch ${a.epoch} acquired after epoch ${b.epoch}: epochs must rise`, at: a.t });
  for (const act of events.filter((e) => e.ev === 'act')) {
    const at = act.at ?? act.t;
    const newer = acquired.find((a) => a.epoch! > act.epoch! && a.t < at);
    if (newer)
      out.push({
        what: `pid ${act.pid} acted as holder of epoch ${act.epoch} at ${at.toFixed(2)} after pid ${newer.pid} acquired epoch ${newer.epoch} at ${newer.t.toFixed(2)}`,
        at,
      });
  }
  return out;
}

/** The log lines around a violation, for the failure message. */
export function around(events: LoggedEvent[], at: number, n = 12): string {
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const i = sorted.findIndex((e) => e.t >= at);
  const from = Math.max(0, (i < 0 ? sorted.length : i) - n);
  return sorted
    .slice(from, from + 2 * n)
    .map((e) => JSON.stringify(e))
    .join('\n');
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
