/** `npm start`'s main job: the demo runs, shows takeovers and the state surviving, and leaves nothing behind. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BIN } from '../integration/cluster.js';

it('leasehold demo --rounds 2 shows both takeovers with the state intact and cleans up', () => {
  const r = spawnSync(process.execPath, [BIN, 'demo', '--instances', '3', '--rounds', '2'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /stopping the owner .* gracefully/);
  assert.match(r.stdout, /killing the owner .* \(SIGKILL\)/);
  assert.equal((r.stdout.match(/new owner after [\d.]+ ms/g) ?? []).length, 2);
  assert.match(r.stdout, /the shared state survived: .* counter = 1 /);
  assert.match(r.stdout, /the shared state survived: .* counter = 2 /);
  assert.doesNotMatch(r.stdout, /EXPECTED/);
  const root = /demo: 3 instances on (\S+)/.exec(r.stdout)?.[1];
  assert.ok(root && !existsSync(root), `temp data root ${root} removed`);
  const pids = [...r.stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(pids.length > 0);
  for (const pid of new Set(pids)) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    assert.equal(alive, false, `instance pid ${pid} left running`);
  }
});
