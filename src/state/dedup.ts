/**
 * The owner's record of which mutations each sender has had applied: exactly once across replays and
 * owners. An instance numbers its mutations 1, 2, 3, … and sends them in order; a mutation the owner
 * refused (a bad mutation, a failing reducer) leaves a hole, and so does a sequence number nobody sent.
 *
 * Per sender: the run of consecutive applied sequence numbers that holds the highest one, and up to
 * MAX_EARLIER_RUNS earlier runs. A mutation is a repeat (acknowledged again, not applied) only when its
 * number lies in one of those runs: a mutation with that id was applied. Anything else is applied, in
 * whatever order it comes: a connection that claims another instance's id and sends a number far ahead
 * of it adds a run above, and the real sender's mutations, which fall into the hole below, are still
 * applied. A refused mutation sent again (its refusal was lost with a connection) is evaluated again.
 *
 * Not guaranteed: a repeat older than the lowest run kept (more than MAX_EARLIER_RUNS holes below it) is
 * applied again. An honest sender only re-sends what it has no answer for, which is newer than every hole
 * it was answered about, so only a sender that has had that many mutations refused while others of its
 * were unanswered can meet it.
 *
 * The record is immutable: each application makes a new one (the common case, the next number, copies
 * three numbers and shares the earlier runs), so the committed table can share records with the applied
 * one. It is rebuilt from the journal's entries by the next owner, and kept in snapshots.
 */

/** How many runs below the highest one are kept per sender. */
export const MAX_EARLIER_RUNS = 32;

export interface Applied {
  /** The highest sequence number applied. */
  readonly seq: number;
  /** The version of the sender's latest applied mutation (at or after any of its applied ones). */
  readonly v: number;
  /** The run [from, seq]: all applied. */
  readonly from: number;
  /** Earlier runs, ascending and below `from`, as [lo, hi, lo, hi, …]; undefined when there are none. */
  readonly below?: readonly number[] | undefined;
}

/** True when the sender's mutation `seq` was applied. */
export function wasApplied(a: Applied | undefined, seq: number): boolean {
  if (a === undefined) return false;
  if (seq >= a.from) return seq <= a.seq;
  const b = a.below;
  if (b === undefined) return false;
  for (let i = b.length - 2; i >= 0; i -= 2) if (seq >= b[i]!) return seq <= b[i + 1]!;
  return false;
}

/** The record after the sender's mutation `seq` (not applied before) was applied at `v`. */
export function recordApplied(a: Applied | undefined, seq: number, v: number): Applied {
  if (a === undefined) return { seq, v, from: seq, below: undefined };
  if (seq === a.seq + 1) return { seq, v, from: a.from, below: a.below };
  if (seq > a.seq) return { seq, v, from: seq, below: keepLast([...(a.below ?? []), a.from, a.seq]) };
  // A hole below is filled.
  const b = a.below ?? [];
  if (seq === a.from - 1) {
    // Joins the highest run, and the run below it when that ends just before.
    if (b.length > 0 && b[b.length - 1] === seq - 1)
      return { seq: a.seq, v, from: b[b.length - 2]!, below: b.length > 2 ? b.slice(0, -2) : undefined };
    return { seq: a.seq, v, from: seq, below: a.below };
  }
  const runs: number[] = [];
  let placed = false;
  for (let i = 0; i < b.length; i += 2) {
    const lo = b[i]!;
    const hi = b[i + 1]!;
    if (!placed && seq < lo) {
      placed = true;
      if (seq === lo - 1) {
        runs.push(seq, hi);
        continue;
      }
      runs.push(seq, seq);
    }
    if (!placed && seq === hi + 1) {
      placed = true;
      // Joins this run, and the next when that starts just after.
      if (i + 2 < b.length && b[i + 2] === seq + 1) {
        runs.push(lo, b[i + 3]!);
        i += 2;
      } else runs.push(lo, seq);
      continue;
    }
    runs.push(lo, hi);
  }
  if (!placed) runs.push(seq, seq);
  return { seq: a.seq, v, from: a.from, below: keepLast(runs) };
}

/** A record as read from a snapshot: fields it lacks or has damaged are taken as one run from 1. */
export function fromStored(x: { seq: number; v: number; from?: unknown; below?: unknown }): Applied {
  const from = Number.isSafeInteger(x.from) && (x.from as number) >= 1 && (x.from as number) <= x.seq ? (x.from as number) : 1;
  const below =
    Array.isArray(x.below) && x.below.length % 2 === 0 && x.below.every((n) => Number.isSafeInteger(n)) && x.below.length > 0
      ? (x.below as number[])
      : undefined;
  return { seq: x.seq, v: x.v, from, below };
}

function keepLast(runs: number[]): number[] {
  return runs.length > 2 * MAX_EARLIER_RUNS ? runs.slice(runs.length - 2 * MAX_EARLIER_RUNS) : runs;
}
