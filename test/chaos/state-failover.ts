/**
 * The shared-state chaos scenario: real processes mutate continuously while the owner is killed (SIGKILL),
 * stopped past its ttl (SIGSTOP/SIGCONT) and closed, round after round. At the end every survivor has the
 * same state and version, every acknowledged mutation is present exactly once, and no epoch had two
 * owners. A failure names the seed (LEASEHOLD_SEED=<seed> replays the same fault schedule).
 *
 * Run briefly in `npm test` (state-failover.test.ts) and at length by `npm run chaos`.
 */
import assert from 'node:assert/strict';
import { Cluster, type Member } from '../integration/cluster.js';
import { delay, until } from '../helpers.js';
import { unlink, writeFile } from 'node:fs/promises';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import { LeaseKey } from '../../src/lease/key.js';

export async function stateFailoverChaos(rounds: number): Promise<void> {
  const seed = Number(process.env.LEASEHOLD_SEED ?? Math.floor(Math.random() * 2 ** 31));
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  // A 1.5 s ttl and ~400 mutations/s from 4–12 processes on 2 cores: busy, with SIGSTOP rounds short.
  const ttl = 1500;
  const cluster = await Cluster.create(['--ttl', String(ttl)]);
  const acked = new Set<string>();
  const sent = new Map<Member, string[]>();
  let stop = false;
  const pump = async (m: Member) => {
    let k = 0;
    sent.set(m, []);
    while (!stop && m.proc.child.exitCode === null && m.proc.child.signalCode === null) {
      const token = `${m.name}-${++k}`;
      sent.get(m)!.push(token);
      m.proc.send(JSON.stringify({ op: 'push', path: 'log', value: token, id: token }));
      await delay(12 + rand() * 12);
    }
  };
  const start = () => {
    return cluster.start();
  };
  const faults = { kill: 0, stop: 0, close: 0, killFollower: 0, closeFollower: 0, deleteRecord: 0, truncateRecord: 0 };
  const recordPath = new FileLeaseStore({ dataRoot: cluster.dataRoot }).recordPath(LeaseKey.forApp('leasehold'));
  try {
    for (let i = 0; i < 4; i++) start();
    let owner = await cluster.waitSettled();
    for (const m of cluster.live()) void pump(m);
    for (let round = 0; round < rounds; round++) {
      await delay(150 + rand() * 150);
      const epoch = owner.epoch;
      const roll = rand();
      const followers = cluster.live().filter((m) => m !== owner);
      const follower = followers[Math.floor(rand() * followers.length)];
      let ownerFault = true;
      if (roll < 0.25) {
        owner.proc.child.kill('SIGKILL');
        faults.kill++;
        await owner.proc.exited;
      } else if (roll < 0.45) {
        owner.proc.child.kill('SIGSTOP');
        faults.stop++;
        await delay(ttl * 1.5);
        owner.proc.child.kill('SIGCONT');
      } else if (roll < 0.65) {
        owner.proc.child.kill('SIGTERM');
        faults.close++;
        await owner.proc.exited;
      } else {
        // Faults that must not change the owner: a follower killed or closed, the lease record deleted or
        // truncated under a live owner (its next renewal repairs it; nobody may take over meanwhile).
        ownerFault = false;
        if (roll < 0.75 && follower) {
          follower.proc.child.kill('SIGKILL');
          faults.killFollower++;
          await follower.proc.exited;
        } else if (roll < 0.85 && follower) {
          follower.proc.child.kill('SIGTERM');
          faults.closeFollower++;
          await follower.proc.exited;
        } else if (roll < 0.93) {
          await unlink(recordPath).catch(() => undefined);
          faults.deleteRecord++;
        } else {
          await writeFile(recordPath, '{"format":1,"key":"/app/lea');
          faults.truncateRecord++;
        }
      }
      if (ownerFault || cluster.live().length < 4) void pump(start());
      owner = await cluster.waitSettled(ownerFault ? epoch : epoch - 1, 20_000);
      if (!ownerFault) assert.equal(owner.epoch, epoch, `seed ${seed}: a fault that spared the owner changed the epoch`);
    }
    stop = true;
    await delay(300);
    // Everyone alive converges on one version.
    const final = await until(
      async () => {
        const states = await Promise.all(
          cluster.live().map(async (m) => {
            const id = `final-${Math.random()}`;
            m.proc.send(JSON.stringify({ op: 'get', id }));
            return (await m.proc.waitFor((l) => l.event === 'state' && l.id === id)) as { version: number; state: { log?: string[] } };
          }),
        );
        return states.every((x) => x.version === states[0]!.version) ? states : undefined;
      },
      20_000,
      'all survivors at one version',
    );
    for (const m of cluster.members) for (const l of m.proc.lines) if (l.event === 'ack') acked.add(String(l.id));
    const log = final[0]!.state.log ?? [];
    const counts = new Map<string, number>();
    for (const t of log) counts.set(t, (counts.get(t) ?? 0) + 1);
    const dup = [...counts].filter(([, n]) => n > 1);
    const missing = [...acked].filter((t) => !counts.has(t));
    for (const x of final) assert.deepEqual(x.state, final[0]!.state, `seed ${seed}: survivors differ`);
    assert.deepEqual(dup, [], `seed ${seed}: applied twice`);
    if (missing.length > 0) {
      const first = missing[0]!;
      const trail = cluster.log
        .filter((l) => JSON.stringify(l).includes(`"${first}"`) || l.event === 'role' || l.event === 'lost')
        .map((l) => JSON.stringify(l).slice(0, 260))
        .join('\n');
      const takes = cluster.members
        .map((m) => m.proc.stderr)
        .join('')
        .trim();
      assert.fail(
        `seed ${seed}: ${missing.length} acknowledged but missing, e.g. ${first}; final version ${final[0]!.version}\n${trail}\n${takes}`,
      );
    }
    assert.ok(acked.size > 100, `seed ${seed}: only ${acked.size} acknowledged`);
    assert.equal(final[0]!.version, log.length, `seed ${seed}: one version per applied push`);
    assert.deepEqual(cluster.doubleOwners(), [], `seed ${seed}`);
    console.log(
      `# state failover seed ${seed}: faults ${JSON.stringify(faults)}, ${acked.size} acknowledged, ${log.length} applied, 0 lost, 0 duplicated`,
    );
  } finally {
    stop = true;
    await cluster.stop();
  }
  // No process left behind.
  const alive = cluster.members.filter((m) => {
    try {
      process.kill(m.proc.pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(
    alive.map((m) => m.name),
    [],
    `seed ${seed}: processes left running`,
  );
}
