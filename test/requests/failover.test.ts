/**
 * Requests to the owner over real processes (`leasehold instance`, handlers registered through its stdin):
 * answered by whichever instance owns, from a follower or from the owner itself; coded failures; a
 * timeout; and at least once across an owner killed (SIGKILL) or closed while its handler runs: the
 * request is answered by the next owner, which ran the handler again under the same request id.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type Member } from '../integration/cluster.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

let n = 0;
/** Sends `{op, …}` to `m` with a fresh id; resolves with its answer line. */
async function command(m: Member, op: string, fields: Record<string, unknown>, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const id = `c${++n}`;
  m.proc.send(JSON.stringify({ op, id, ...fields }));
  return m.proc.waitFor((l) => l.id === id && ['handler', 'reply', 'error'].includes(String(l.event)), timeoutMs);
}

async function threeWithHandlers(handlers: Record<string, unknown>[]): Promise<{ owner: Member; followers: Member[] }> {
  cluster = await Cluster.create(['--ttl', '1500']);
  for (let i = 0; i < 3; i++) cluster.start();
  const owner = await cluster.waitSettled();
  for (const m of cluster.live()) for (const h of handlers) assert.equal((await command(m, 'handle', h)).event, 'handler');
  return { owner, followers: cluster.live().filter((m) => m !== owner) };
}

describe('requests to the owner', () => {
  it('are sent again over a new link when the link to the owner broke while its handler ran (at least once)', async () => {
    const previous = process.env.LEASEHOLD_FAULTS;
    process.env.LEASEHOLD_FAULTS = '1'; // the instances take `fault` commands
    try {
      const { owner, followers } = await threeWithHandlers([{ name: 'slow', delayMs: 500 }]);
      const f = followers[0]!;
      const id = `r${++n}`;
      f.proc.send(JSON.stringify({ op: 'request', id, name: 'slow' }));
      const first = await owner.proc.waitFor((l) => l.event === 'handling' && l.from !== undefined);
      f.proc.send(JSON.stringify({ op: 'fault', kind: 'drop-link', id: 'drop' }));
      assert.equal((await f.proc.waitFor((l) => l.event === 'fault' && l.id === 'drop')).applied, true);
      const answer = await f.proc.waitFor((l) => l.id === id && (l.event === 'reply' || l.event === 'error'), 20_000);
      assert.equal(answer.event, 'reply', JSON.stringify(answer));
      assert.equal((answer.value as { by: string }).by, owner.name, 'the same owner');
      const ran = owner.proc.lines.filter((l) => l.event === 'handling' && l.requestId === first.requestId).length;
      assert.equal(ran, 2, 'run again under the same id after the reconnection');
    } finally {
      if (previous === undefined) delete process.env.LEASEHOLD_FAULTS;
      else process.env.LEASEHOLD_FAULTS = previous;
    }
  });

  it('are answered by the owner: from a follower, from the owner itself, with coded failures and a timeout', async () => {
    const { owner, followers } = await threeWithHandlers([
      { name: 'echo' },
      { name: 'busy', fail: 'E_APP_BUSY' },
      { name: 'slow', delayMs: 5000 },
    ]);
    const f = followers[0]!;
    const fromFollower = await command(f, 'request', { name: 'echo', payload: { n: 1 } });
    assert.equal(fromFollower.event, 'reply', JSON.stringify(fromFollower));
    const value = fromFollower.value as { by: string; payload: unknown; requestId: string };
    assert.equal(value.by, owner.name, 'the handler ran on the owner');
    assert.deepEqual(value.payload, { n: 1 });
    const fromOwner = await command(owner, 'request', { name: 'echo' });
    assert.equal((fromOwner.value as { by: string }).by, owner.name);
    // Only the owner ran a handler.
    assert.equal(f.proc.lines.filter((l) => l.event === 'handling').length, 0);
    const failed = await command(f, 'request', { name: 'busy' });
    assert.deepEqual([failed.event, failed.code, failed.message], ['error', 'E_APP_BUSY', 'busy failed as told']);
    const none = await command(f, 'request', { name: 'nobody-handles-this' });
    assert.deepEqual([none.event, none.code], ['error', 'ENOHANDLER']);
    const late = await command(f, 'request', { name: 'slow', timeoutMs: 200 });
    assert.deepEqual([late.event, late.code], ['error', 'ETIMEOUT']);
  });

  for (const how of ['SIGKILL', 'close'] as const)
    it(`are answered by the next owner when the owner is ${how === 'close' ? 'closed' : 'killed'} while its handler runs (at least once)`, async () => {
      const { owner, followers } = await threeWithHandlers([{ name: 'slow', delayMs: 800 }]);
      const f = followers[0]!;
      const id = `r${++n}`;
      f.proc.send(JSON.stringify({ op: 'request', id, name: 'slow', payload: 'once' }));
      const first = await owner.proc.waitFor((l) => l.event === 'handling' && l.name === 'slow');
      if (how === 'SIGKILL') owner.proc.child.kill('SIGKILL');
      else owner.proc.send(JSON.stringify({ op: 'close' }));
      const answer = await f.proc.waitFor((l) => l.id === id && (l.event === 'reply' || l.event === 'error'), 20_000);
      assert.equal(answer.event, 'reply', JSON.stringify(answer));
      const value = answer.value as { by: string; payload: unknown; requestId: string };
      const next = cluster!.live().find((m) => m.name === value.by);
      assert.ok(next && next !== owner && next.role === 'owner', `answered by ${value.by}, the next owner`);
      assert.equal(value.payload, 'once');
      // The same request, run again by the next owner under the same id.
      assert.equal(value.requestId, first.requestId);
      const ran = cluster!.log.filter((l) => l.event === 'handling' && l.requestId === first.requestId).map((l) => l.name);
      assert.ok(ran.length >= 2, `ran ${ran.length} times`);
      await owner.proc.exited;
    });
});
