/**
 * Joining a large state: a follower (its own process) joins a state of 1 000 000 small objects (about
 * 100 MB of JSON; JOIN_BENCH_KEYS sets the number) until it is synced; beside it, the same state's JSON.stringify + JSON.parse in one
 * process (baseline: the least any join of it costs). Meanwhile another follower mutates one key, one
 * mutation after another: its ack latency, and the owner's longest event-loop delay during each join
 * (monitorEventLoopDelay in the owner's process), show whether the owner keeps serving while it sends.
 * The state is put in place as a snapshot on disk, as a previous owner would have left it.
 */
import * as nodeFs from 'node:fs';
import { join as joinPath, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { join } from '../src/instance/instance.js';
import { systemClock } from '../src/clock.js';
import { LeaseKey } from '../src/lease/key.js';
import type { Json } from '../src/state/document.js';
import { writeSnapshot } from '../src/state/journal/compaction.js';
import { prepareJournalDir } from '../src/state/journal/index.js';
import { stateDir } from '../src/state/owner-handler.js';
import { spawnNode, killAll, type Proc } from '../test/integration/proc.js';
import { tempRoot } from '../test/helpers.js';
import { summarize, type Row } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const OWNER = joinPath(here, 'fixtures/join-owner.js');
const CLIENT = joinPath(here, 'fixtures/state-client.js');
/** Keys of the state (JOIN_BENCH_KEYS to change it; 1 000 000 small objects are about 100 MB of JSON). */
const KEYS = Number(process.env.JOIN_BENCH_KEYS ?? 1_000_000);
const JOINS = 2;
/** The owner's ttl: loading 100 MB from its snapshot at start-up must not cost it the lease on a busy machine. */
const OWNER_TTL_MS = 60_000;

function bigState(): Json {
  const items: Record<string, Json> = {};
  for (let i = 0; i < KEYS; i++) items[`k${i}`] = { id: i, name: `item ${i}`, done: i % 3 === 0, tags: ['a', 'b'], note: 'a short note' };
  return { items };
}

export async function joinBench(): Promise<Row[]> {
  const root = await tempRoot('leasehold-bench-join-');
  const procs: Proc[] = [];
  try {
    let state: Json | undefined = bigState();
    const baseline: number[] = [];
    let chars = 0;
    for (let i = 0; i < JOINS; i++) {
      const t0 = systemClock.now();
      const text = JSON.stringify(state);
      JSON.parse(text);
      baseline.push(systemClock.now() - t0);
      chars = text.length;
    }
    // Where the default (file) store's instances keep their state: <dataRoot>/leasehold/state/….
    const dir = stateDir(joinPath(root.dir, 'leasehold'), LeaseKey.forApp('leasehold').pathSegments());
    prepareJournalDir(dir, root.dir);
    await writeSnapshot({
      dir,
      fs: nodeFs,
      clock: systemClock,
      guard: () => undefined,
      snapshot: { version: 1, epoch: 0, stateVersion: 0, state, dedup: {} },
    });
    state = undefined;

    const owner = spawnNode(OWNER, [root.dir, String(OWNER_TTL_MS)]);
    procs.push(owner);
    await owner.waitFor((l) => l.ev === 'owner', 300_000);
    const mutator = join({ dataRoot: root.dir });
    await mutator.state.whenSynced();

    const joins: number[] = [];
    const acks: number[] = [];
    const stalls: number[] = [];
    for (let i = 0; i < JOINS; i++) {
      owner.send('reset');
      let joined = false;
      const mutating = (async () => {
        while (!joined) {
          const t0 = systemClock.now();
          await mutator.state.increment('m', 1, { durable: false });
          acks.push(systemClock.now() - t0);
        }
      })();
      const j = spawnNode(CLIENT, [root.dir, 'join', '0']);
      procs.push(j);
      joins.push((await j.waitFor((l) => l.ev === 'synced', 900_000)).ms as number);
      joined = true;
      await mutating;
      const before = owner.lines.length;
      owner.send('report');
      stalls.push((await owner.waitFor((l) => l.ev === 'delay' && owner.lines.indexOf(l) >= before)).maxMs as number);
    }
    await mutator.close();
    const mb = (chars / 1e6).toFixed(0);
    return [
      summarize('join', `JSON.stringify + JSON.parse of the ${mb} MB state, one process (baseline)`, 'ms', baseline),
      summarize('join', `a follower joins the ${KEYS / 1e6}M-key (${mb} MB) state → synced`, 'ms', joins, {
        baseline: `JSON.stringify + JSON.parse of the ${mb} MB state, one process (baseline)`,
      }),
      summarize('join', "owner's longest event-loop delay during a join", 'ms', stalls),
      summarize('join', "another follower's ack latency during the joins (not durable)", 'ms', acks),
    ];
  } finally {
    await killAll(procs);
    await root.remove();
  }
}
