/**
 * The owner's side of a graceful handover as a state machine, against a fake server and a fake clock:
 * when it designates, whom it tells, and the order in which it leaves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { OwnerHandover } from '../../src/instance/handover.js';
import type { InstanceInfo } from '../../src/transport/protocol.js';
import type { Standby } from '../../src/transport/codec/to-owner.js';
import type { OwnerServer, Peer } from '../../src/transport/server.js';

const timing = { designateAfterMs: 50, handoverLingerMs: 100 };

function fakePeer(id: string, log: string[], appVersion = ''): Peer & { gone: boolean } {
  return {
    gone: false,
    info: { instanceId: id, name: id, pid: 1, role: 'follower', since: 0, appVersion } satisfies InstanceInfo,
    bufferedAmount: 0,
    send: (m) => void log.push(`${id}<${m.t}${m.t === 'successor' ? `:${(m as { instanceId: string }).instanceId}` : ''}`),
    sendRaw: () => undefined,
    sendFlushed: async (m) => void log.push(`${id}<${m.t}${m.t === 'leaving' ? `:${(m as { successor: string }).successor}` : ''}`),
    close: () => undefined,
  };
}

function fakeServer(ids: string[], versions: string[] = []) {
  const log: string[] = [];
  const peers = ids.map((id, i) => fakePeer(id, log, versions[i]));
  let state: OwnerServer['state'] = 'serving';
  const server = {
    get state() {
      return state;
    },
    peers: () => peers.filter((p) => !p.gone),
    freeze: () => void (log.push('freeze'), (state = 'leaving')),
    close: async () => void (log.push('close'), (state = 'closed')),
  } as unknown as OwnerServer;
  return { server, peers, log };
}

const standby = (p: Peer): Standby => ({ t: 'standby', epoch: 3, endpoint: `ws://${p.info.instanceId}`, secret: 's' });

describe('OwnerHandover', () => {
  it('designates the follower running the newest app version, and again when a newer one joins', async () => {
    const clock = new FakeClock();
    const { server, peers, log } = fakeServer(['a', 'b', 'c'], ['1.9.0', '1.10.0', '1.10.0']);
    const h = new OwnerHandover(server, 3, clock, timing);
    h.designate();
    await clock.advance(50);
    assert.deepEqual(log, ['b<standby-request'], 'the newest version, the longest-connected of those');
    // An update's first instance joins (presence changes): it is designated instead.
    peers.push(fakePeer('d', log, '2.0.0-beta.1'));
    h.designate();
    assert.deepEqual(log.slice(1), ['d<standby-request']);
    h.designate(); // the same choice: nothing new is sent
    assert.equal(log.length, 2);
  });

  it('designates the longest-connected follower only designateAfterMs after serving, then relays where it stands by', async () => {
    const clock = new FakeClock();
    const { server, peers, log } = fakeServer(['a', 'b', 'c']);
    const h = new OwnerHandover(server, 3, clock, timing);
    h.designate();
    assert.deepEqual(log, [], 'not while the welcomes of a failover run');
    await clock.advance(49);
    assert.deepEqual(log, []);
    await clock.advance(1);
    assert.deepEqual(log, ['a<standby-request']);
    assert.equal(h.phase, 'requested');
    h.onStandby(peers[1]!, standby(peers[1]!)); // not the designated one: stale
    assert.equal(h.standbyReady, false);
    h.onStandby(peers[0]!, standby(peers[0]!));
    assert.equal(h.phase, 'standing-by');
    assert.deepEqual(log.slice(1), ['b<successor:a', 'c<successor:a']);
    h.onJoin(fakePeer('d', log));
    assert.equal(log.at(-1), 'd<successor:a', 'a follower joining later is told too');
    // The successor leaves: the next longest-connected is designated, and nobody stands by until it says so.
    peers[0]!.gone = true;
    h.designate();
    assert.equal(log.at(-1), 'b<standby-request');
    assert.equal(h.standbyReady, false);
  });

  it('leaves in order: freeze, commit, release, the successor alone, then the rest once they left or after the linger', async () => {
    const clock = new FakeClock();
    const { server, peers, log } = fakeServer(['a', 'b', 'c']);
    const h = new OwnerHandover(server, 3, clock, timing);
    await clock.advance(50);
    h.designate();
    h.onStandby(peers[0]!, standby(peers[0]!));
    log.length = 0;
    const leaving = h.leave({ commit: async () => void log.push('commit'), release: async () => void log.push('release') });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['freeze', 'commit', 'release', 'a<leaving:a'], 'the successor first and alone');
    peers[1]!.gone = true; // b leaves on the successor's welcome
    h.onLeave();
    await clock.advance(99);
    assert.equal(log.length, 4, 'c (no standby link) is still waited for');
    await clock.advance(1);
    await leaving;
    assert.deepEqual(log.slice(4), ['a<leaving:a', 'c<leaving:a', 'close']);
    assert.equal(h.phase, 'left');
  });

  it('without a successor standing by, tells everyone at once, naming the longest-connected', async () => {
    const clock = new FakeClock();
    const { server, log } = fakeServer(['a', 'b']);
    const h = new OwnerHandover(server, 3, clock, timing);
    await h.leave({ commit: async () => undefined, release: async () => undefined });
    assert.deepEqual(log, ['freeze', 'a<leaving:a', 'b<leaving:a', 'close']);
  });

  it('stops waiting for the others as soon as the last one left', async () => {
    const clock = new FakeClock();
    const { server, peers, log } = fakeServer(['a', 'b']);
    const h = new OwnerHandover(server, 3, clock, timing);
    await clock.advance(50);
    h.designate();
    h.onStandby(peers[0]!, standby(peers[0]!));
    const leaving = h.leave({ commit: async () => undefined, release: async () => undefined });
    await new Promise((r) => setImmediate(r));
    peers[1]!.gone = true;
    h.onLeave();
    await leaving; // no clock advance needed
    assert.deepEqual(log.slice(-2), ['a<leaving:a', 'close']);
  });

  it('steps down (onNewer) once a successor of a newer app version than its own stands by; not for the same or an older one', async () => {
    for (const [own, theirs, steps] of [
      ['1.4.0', '1.5.0', true],
      ['', '0.1.0', true],
      ['1.5.0', '1.5.0', false],
      ['1.5.0', '1.4.9', false],
      ['2.0.0', '2.0.0-beta.1', false],
    ] as const) {
      const clock = new FakeClock();
      const { server, peers } = fakeServer(['a'], [theirs]);
      const h = new OwnerHandover(server, 3, clock, timing, { appVersion: own });
      let calls = 0;
      h.onNewer = () => void calls++;
      await clock.advance(50);
      h.designate();
      assert.equal(calls, 0, 'not at the request: only once it stands by');
      h.onStandby(peers[0]!, standby(peers[0]!));
      assert.equal(calls, steps ? 1 : 0, `owner ${own || '(none)'}, successor ${theirs}`);
    }
  });

  it('steps down to a successor whose code knows a newer state version, whatever the app versions say', async () => {
    const clock = new FakeClock();
    const { server, peers } = fakeServer(['a', 'b'], ['1.0.0', '1.0.0']);
    (peers[1]!.info as { stateVersion?: number }).stateVersion = 3;
    const h = new OwnerHandover(server, 3, clock, timing, { appVersion: '1.0.0', stateVersion: 2 });
    let calls = 0;
    h.onNewer = () => void calls++;
    await clock.advance(50);
    h.designate();
    h.onStandby(peers[0]!, standby(peers[0]!)); // not designated: b knows a newer state version
    assert.equal(calls, 0);
    h.onStandby(peers[1]!, standby(peers[1]!));
    assert.equal(calls, 1);
  });
});
