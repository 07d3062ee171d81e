/**
 * Idle connections from another local process, against an owner started with the descriptor limit a
 * Finder-started macOS app gets (256): the owner keeps its lease, its follower's mutations keep being
 * acknowledged, and every connection that never authenticates is closed within authTimeoutMs.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Cluster } from '../integration/cluster.js';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import { ADMISSION_DEFAULTS } from '../../src/transport/admission.js';
import { rawConnect } from '../transport/hostile-frames.js';
import { delay } from '../helpers.js';

const FLOOD = 400;
/** Timers, scheduling and the test's own connecting on 2 busy cores. */
const SLACK_MS = 1500;

describe('a flood of idle unauthenticated connections', () => {
  let cluster: Cluster | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await cluster?.stop();
    cluster = undefined;
  });

  it(`${FLOOD} idle connections to an owner under ulimit -n 256: lease kept, acks flow, all closed in time`, async () => {
    cluster = await Cluster.create(['--ttl', '1500']);
    const owner = cluster.start([], { nofile: 256 });
    await cluster.waitSettled();
    const follower = cluster.start();
    await cluster.waitSettled();
    const store = new FileLeaseStore({ dataRoot: cluster.dataRoot });
    const port = Number(new URL((await store.inspect('/app/leasehold/owner'))!.meta.endpoint as string).port);
    await store.close();

    const lifetimes: Promise<number>[] = [];
    let refusedAtOnce = 0;
    for (let i = 0; i < FLOOD; i++) {
      let s: Socket;
      try {
        s = await rawConnect({ port });
      } catch {
        refusedAtOnce++;
        continue;
      }
      sockets.push(s);
      const opened = performance.now();
      lifetimes.push(new Promise((resolve) => s.once('close', () => resolve(performance.now() - opened))));
    }
    // Mutations keep being acknowledged during the flood and for longer than several renewals (ttl 1500).
    let acked = 0;
    const until = performance.now() + ADMISSION_DEFAULTS.authTimeoutMs + 1000;
    for (let i = 0; performance.now() < until; i++) {
      follower.proc.send(JSON.stringify({ op: 'push', path: 'log', value: i, id: `m${i}` }));
      await follower.proc.waitFor((l) => l.event === 'ack' && l.id === `m${i}`, 3000);
      acked++;
      await delay(50);
    }
    const all = await Promise.race([Promise.all(lifetimes), delay(ADMISSION_DEFAULTS.authTimeoutMs + SLACK_MS * 2).then(() => undefined)]);
    assert.ok(all, `every idle connection is closed (${lifetimes.length} opened, ${refusedAtOnce} refused at once)`);
    const longest = Math.max(...all);
    assert.ok(longest <= ADMISSION_DEFAULTS.authTimeoutMs + SLACK_MS, `the longest-lived idle connection lasted ${longest.toFixed(0)} ms`);
    assert.ok(acked >= 10);
    assert.equal(owner.proc.child.exitCode, null);
    assert.equal(cluster.settled(), owner, 'the same owner throughout');
    assert.deepEqual(owner.ownedEpochs, [owner.epoch]);
    assert.equal(
      cluster.log.filter((l) => l.name === owner.name && (l.event === 'lost' || l.event === 'error')).length,
      0,
      JSON.stringify(cluster.log.filter((l) => l.event === 'lost' || l.event === 'error')),
    );
  });
});
