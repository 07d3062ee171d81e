/**
 * Wide-node benchmarks (issue: costs that do not grow with uptime, big states). One key of an object of
 * 1 000 keys (the baseline) or of 1 000 000 keys is set, over and over; and, apart, an array of 1 000
 * elements (the baseline) or of 1 000 000 elements is pushed onto, over and over (owner and follower rows):
 *  - owner CPU per mutation: OwnerState.mutate (validate, dedup, apply, freeze, serialize, journal append)
 *    over a real journal in a temp directory, `durable: false` mutations in groups of 1 000 as busy
 *    followers send them, each group's flush awaited; the process's CPU time (user + system, the journal's
 *    thread pool included) per mutation                                            target ≤ 2 × 1 000 keys
 *  - follower apply time: SharedState.change (apply, freeze) of the same changes   target ≤ 2 × 1 000 keys
 *  - recovery's replay (CPU time of the apply OwnerState's constructor runs per entry): the first
 *    entry into the object, which makes it wide, and each entry after it (REPLAY entries), timed apart
 * The two widths alternate, round after round, so that the machine's load falls on both alike. The owner
 * starts from the state's snapshot on disk, and writes no snapshot while mutating (compaction of a large
 * state is measured in bench/journal.ts).
 * WIDE_BENCH_ROUNDS, WIDE_BENCH_GROUP and WIDE_BENCH_REPLAY make it shorter (to measure an older build).
 */
import { Journal } from '../src/state/journal/index.js';
import { OwnerState } from '../src/state/owner-state.js';
import { replicaOf, SharedState } from '../src/state/shared-state.js';
import { apply, type Doc, type Json, type Mutation } from '../src/state/document.js';
import { systemClock } from '../src/clock.js';
import { tempRoot } from '../test/helpers.js';
import { cpSync } from 'node:fs';
import { percentile, summarize, type Row } from './stats.js';

const WIDTHS = [1000, 1_000_000] as const;
/** Smaller figures for a build where a change copies the whole object (each costs ~10⁶ key copies). */
const ROUNDS = Number(process.env.WIDE_BENCH_ROUNDS ?? 4);
const GROUPS = 4;
const GROUP = Number(process.env.WIDE_BENCH_GROUP ?? 1000);
const REPLAY = Number(process.env.WIDE_BENCH_REPLAY ?? 5000);

function wideState(width: number): Json {
  const w: Record<string, Json> = {};
  for (let i = 0; i < width; i++) w[`k${i}`] = i;
  return { w, other: { n: 0 } };
}

/**
 * The same mutations for both widths (as the target compares them): sets of the keys k0 … k999, which
 * both objects hold, in a scattered order.
 */
function sets(count: number, from: number): Mutation[] {
  return Array.from({ length: count }, (_, i) => ({ op: 'set', path: `w.k${((from + i) * 7919) % 1000}`, value: from + i }));
}

/** A state whose `log` holds `length` elements. */
function longArrayState(length: number): Json {
  return { log: Array.from({ length }, (_, i) => `entry-${i}`), other: { n: 0 } };
}

/** Pushes onto `log`. */
function pushes(count: number, from: number): Mutation[] {
  return Array.from({ length: count }, (_, i) => ({ op: 'push', path: 'log', value: `pushed-${from + i}` }));
}

type Mutations = (count: number, from: number) => Mutation[];

/**
 * A journal directory holding `state` as its snapshot, as an owner finds it on disk: the owner then knows
 * the snapshot's size, and takes no snapshot by bytes (owner-state.ts) within the few thousand entries
 * measured here. Written once per state, copied for each round.
 */
async function snapshotDir(dir: string, state: Json): Promise<string> {
  const { journal } = await Journal.open({ dir, epoch: 1, guard: () => undefined });
  await journal.compact({ version: 0, epoch: 1, stateVersion: 0, state, dedup: {} });
  await journal.close();
  return dir;
}

async function ownerCpuPerMutation(template: string, dir: string, round: number, make: Mutations): Promise<number[]> {
  cpSync(template, dir, { recursive: true });
  const { journal, recovered } = await Journal.open({ dir, epoch: round + 2, guard: () => undefined });
  const owner = new OwnerState(journal, recovered, round + 2, {
    guard: () => undefined,
    maxValueBytes: 1024,
    compactEvery: Number.MAX_SAFE_INTEGER,
  });
  let seq = 0;
  const group = async (ms: Mutation[]) => {
    await Promise.all(ms.map((m) => owner.mutate(m, ['B', ++seq], { durable: false })));
    await owner.mutate({ op: 'increment', path: 'other.n' }, ['B', ++seq]); // the group's flush
  };
  await group(make(GROUP, 0)); // warm-up (and the one conversion of a wide node)
  const out: number[] = [];
  for (let g = 1; g <= GROUPS; g++) {
    const ms = make(GROUP, g * GROUP);
    const c0 = process.cpuUsage();
    await group(ms);
    const c = process.cpuUsage(c0);
    out.push((c.user + c.system) / (GROUP + 1));
  }
  await journal.close();
  return out;
}

function followerApplyPerChange(state: Json, make: Mutations): number[] {
  const s = new SharedState('bench');
  const replica = replicaOf(s);
  replica.snapshot(0, structuredClone(state));
  let v = 0;
  const changes = (ms: Mutation[]) => {
    for (const m of ms) if (!replica.change(++v, JSON.parse(JSON.stringify(m)) as Json, ['B', v])) throw new Error('out of order');
  };
  changes(make(GROUP, 0)); // warm-up
  const out: number[] = [];
  for (let g = 1; g <= GROUPS; g++) {
    // Parsed beforehand: the follower's parse of a change frame does not depend on the state.
    const ms = make(GROUP, g * GROUP).map((m) => JSON.parse(JSON.stringify(m)) as Mutation);
    const t0 = systemClock.now();
    for (const m of ms) if (!replica.change(++v, m as unknown as Json, ['B', v])) throw new Error('out of order');
    out.push(((systemClock.now() - t0) * 1000) / GROUP);
  }
  return out;
}

/**
 * Recovery's replay: the first entry into the object (which makes it wide: O(width) once), and each after
 * it, timed apart in CPU time around the step OwnerState's constructor runs per entry (`apply`).
 */
function replay(state: Json): { first: number; perEntry: number } {
  const entries = sets(REPLAY, 0);
  let doc: Doc = structuredClone(state);
  const cpu = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  const c0 = cpu();
  doc = apply(doc, entries[0]!);
  const first = cpu() - c0;
  const c1 = cpu();
  for (let i = 1; i < entries.length; i++) doc = apply(doc, entries[i]!);
  const rest = cpu() - c1;
  return { first, perEntry: (rest * 1000) / (REPLAY - 1) };
}

const pushOnto = (n: number) => `a push onto ${n.toLocaleString('en')} elements`;

export async function wideBench(): Promise<Row[]> {
  const root = await tempRoot('leasehold-bench-wide-');
  try {
    const owner = new Map<number, number[]>(WIDTHS.map((w) => [w, []]));
    const follower = new Map<number, number[]>(WIDTHS.map((w) => [w, []]));
    const replayed = new Map<number, number[]>(WIDTHS.map((w) => [w, []]));
    const first = new Map<number, number[]>(WIDTHS.map((w) => [w, []]));
    const arrayOwner = new Map<number, number[]>(WIDTHS.map((w) => [w, []]));
    const arrayFollower = new Map<number, number[]>(WIDTHS.map((w) => [w, []]));
    const states = new Map(WIDTHS.map((w) => [w, wideState(w)]));
    const arrays = new Map(WIDTHS.map((w) => [w, longArrayState(w)]));
    const templates = new Map<Json, string>();
    for (const w of WIDTHS) {
      templates.set(states.get(w)!, await snapshotDir(`${root.dir}/object-${w}`, states.get(w)!));
      templates.set(arrays.get(w)!, await snapshotDir(`${root.dir}/array-${w}`, arrays.get(w)!));
    }
    for (let round = 0; round < ROUNDS; round++)
      for (const width of WIDTHS) {
        const state = states.get(width)!;
        owner.get(width)!.push(...(await ownerCpuPerMutation(templates.get(state)!, `${root.dir}/owner-${width}-${round}`, round, sets)));
        follower.get(width)!.push(...followerApplyPerChange(state, sets));
        const r = replay(state);
        replayed.get(width)!.push(r.perEntry);
        first.get(width)!.push(r.first * 1000);
        const array = arrays.get(width)!;
        arrayOwner.get(width)!.push(...(await ownerCpuPerMutation(templates.get(array)!, `${root.dir}/owner-array-${width}-${round}`, round, pushes)));
        arrayFollower.get(width)!.push(...followerApplyPerChange(array, pushes));
      }
    const [small, big] = WIDTHS;
    const rows = (name: string, samples: Map<number, number[]>, target: boolean, of = (n: number) => `one key of ${n.toLocaleString('en')} keys`): Row[] => {
      const base = `${name}, ${of(small)} (baseline)`;
      const p50 = percentile(samples.get(small)!, 50);
      return [
        summarize('wide', base, 'µs', samples.get(small)!),
        summarize('wide', `${name}, ${of(big)}`, 'µs', samples.get(big)!, {
          baseline: base,
          ...(target ? { target: { value: 2 * p50, kind: 'max' as const, of: 'p50' as const, note: `2 × ${of(small)}` } } : {}),
        }),
      ];
    };
    return [
      ...rows('owner CPU per mutation (durable: false, journal on disk)', owner, true),
      ...rows('follower apply per change', follower, true),
      ...rows(`recovery replay per entry after the first (${REPLAY} entries)`, replayed, false),
      ...rows('recovery replay, the first entry into the object (it becomes wide)', first, false),
      ...rows('owner CPU per mutation (durable: false, journal on disk)', arrayOwner, true, pushOnto),
      ...rows('follower apply per change', arrayFollower, true, pushOnto),
    ];
  } finally {
    await root.remove();
  }
}
