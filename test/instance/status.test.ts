/** What an instance says about itself (status.ts): events only on changes, an epoch that only rises. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InstanceStatus } from '../../src/instance/status.js';
import { LeaseholdError } from '../../src/errors.js';
import type { InstanceEvent } from '../../src/instance/role.js';
import type { LeaseRecord } from '../../src/lease/record.js';

const record = (epoch: number, instanceId = 'o'): LeaseRecord =>
  ({
    format: 1,
    key: 'app/x/owner',
    instanceId,
    epoch,
    pid: 1,
    processStart: null,
    host: 'h',
    acquiredAt: 0,
    renewedAt: 0,
    ttlMs: 1000,
    releasedAt: null,
    pins: [],
    meta: { name: 'owner', endpoint: 'ws://127.0.0.1:1/', secret: 'not shown' },
  }) as unknown as LeaseRecord;

function recorded() {
  const s = new InstanceStatus();
  const events: string[] = [];
  s.events.subscribe((e: InstanceEvent) =>
    events.push(e.type === 'role-change' ? `role ${e.role}@${e.epoch}` : e.type === 'owner-change' ? `owner ${e.holder.instanceId}@${e.epoch}` : e.type),
  );
  return { s, events };
}

describe('InstanceStatus', () => {
  it('announces a role and an owner only when they change; an owner again under a new epoch is a change', () => {
    const { s, events } = recorded();
    s.setHolder(record(1));
    s.setHolder(record(1));
    s.setRole('follower');
    s.setRole('follower');
    s.setHolder(record(2, 'me'));
    s.setRole('owner');
    s.setRole('owner');
    s.setHolder(record(3, 'me'));
    s.setRole('owner');
    assert.deepEqual(events, ['owner o@1', 'role follower@1', 'owner me@2', 'role owner@2', 'owner me@3', 'role owner@3']);
    assert.equal(s.holder?.endpoint, 'ws://127.0.0.1:1/');
    assert.equal(JSON.stringify(s.holder).includes('not shown'), false, 'no secret in the holder');
  });

  it('keeps the highest epoch seen', () => {
    const { s } = recorded();
    s.seen(5);
    s.seen(3);
    s.setHolder(record(4));
    assert.equal(s.epoch, 5);
  });

  it('serving resolves both waiters; a failure rejects them with it, after an error and a role-change carrying it', async () => {
    const { s, events } = recorded();
    const owned = s.whenOwner.wait();
    const connected = s.whenConnected.wait();
    s.serving(record(2, 'me'), []);
    await Promise.all([owned, connected]);
    const waiting = s.whenConnected.wait();
    const error = new LeaseholdError('EOUTDATED', 'restart the app to update it');
    s.fail(error);
    await assert.rejects(waiting, (e) => e === error);
    assert.equal(s.role, 'failed');
    assert.equal(s.failure, error);
    assert.deepEqual(events.slice(-2), ['error', 'role failed@2']);
  });

  it('reports any other error as EIO naming what failed', () => {
    const { s } = recorded();
    let got: LeaseholdError | undefined;
    s.events.on('error', (e) => (got = e.error));
    s.error(new Error('disk'), 'cannot accept connections');
    assert.equal(got?.code, 'EIO');
    assert.match(got!.message, /cannot accept connections: disk/);
  });
});
