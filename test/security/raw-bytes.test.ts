/**
 * Raw bytes from local processes against real `leasehold instance` processes: the owner's port, before and
 * after the upgrade, with and without the secret. Whatever arrives, the owner process lives, keeps its
 * epoch, keeps serving its follower, and its state moves only by the mutations it acknowledged.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cluster, type Member } from '../integration/cluster.js';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import { exchangeRaw, frame, httpStatus, upgradeRequest, violations } from '../transport/hostile-frames.js';
import { delay } from '../helpers.js';
import { PROTOCOL_VERSION } from '../../src/transport/protocol.js';

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe('raw bytes against an owner process', () => {
  let cluster: Cluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  async function ackedPush(m: Member, id: string): Promise<number> {
    m.proc.send(JSON.stringify({ op: 'push', path: 'log', value: id, id }));
    const ack = await m.proc.waitFor((l) => l.event === 'ack' && l.id === id, 5000);
    return Number(ack.version);
  }

  it('survives every ws protocol violation and random bytes, and serves only acknowledged changes', async () => {
    console.log(`# raw bytes seed ${seed} (FC_SEED to replay)`);
    cluster = await Cluster.create();
    cluster.start();
    const owner = await cluster.waitSettled();
    const follower = cluster.start();
    await cluster.waitSettled();
    const store = new FileLeaseStore({ dataRoot: cluster.dataRoot });
    const record = (await store.inspect('/app/leasehold/owner'))!;
    await store.close();
    const port = Number(new URL(record.meta.endpoint as string).port);
    const secret = record.meta.secret as string;
    const target = { port };
    let acked = 0;
    acked = Math.max(acked, await ackedPush(follower, 'before'));

    // Two bytes after an upgrade request without any secret: the owner used to exit on an unhandled 'error'.
    const twoBytes = await exchangeRaw(target, [Buffer.concat([upgradeRequest(port), Buffer.from([0x81, 0x00])])]);
    await delay(200);
    assert.equal(owner.proc.child.exitCode, null, `the owner is alive: ${owner.proc.stderr.slice(-300)}`);
    assert.equal(httpStatus(twoBytes.reply), 401, 'refused before a WebSocket exists');
    for (const [name, bytes] of Object.entries(violations(1 << 20))) {
      await exchangeRaw(target, [Buffer.concat([upgradeRequest(port), bytes])], 200);
      const authed = await exchangeRaw(target, [Buffer.concat([upgradeRequest(port, { secret }), bytes])], 2000);
      assert.ok(authed.closed, `${name}: the owner closes the connection`);
      acked = Math.max(acked, await ackedPush(follower, `after-${name}`));
    }
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 200 }), async (upgrade, withSecret, bytes) => {
        const hello = frame(
          0x81,
          JSON.stringify({ t: 'hello', nonce: 'test-nonce', v: PROTOCOL_VERSION, epoch: 0, instanceId: `x${Math.random()}`, name: 'x', pid: 1 }),
        );
        const parts = upgrade
          ? [upgradeRequest(port, withSecret ? { secret } : {}), ...(withSecret ? [hello] : []), Buffer.from(bytes)]
          : [Buffer.from(bytes)];
        await exchangeRaw(target, parts, 20);
      }),
      { seed, numRuns: Number(process.env.FC_RUNS ?? 60) },
    );
    acked = Math.max(acked, await ackedPush(follower, 'last'));

    assert.equal(owner.proc.child.exitCode, null, `the owner is alive: ${owner.proc.stderr.slice(-500)}`);
    assert.equal(cluster.settled(), owner, 'the same owner, same epoch');
    assert.deepEqual(owner.ownedEpochs, [owner.epoch]);
    owner.proc.send(JSON.stringify({ op: 'get', id: 'g' }));
    const state = await owner.proc.waitFor((l) => l.event === 'state' && l.id === 'g');
    assert.equal(state.version, acked, 'the state moved only by acknowledged mutations');
    assert.equal(((state.state as { log: string[] }).log ?? []).length, acked);
  });
});
