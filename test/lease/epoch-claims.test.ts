import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KEEP_EPOCHS, claimEpoch, claimName, newestClaim, rewriteClaim } from '../../src/lease/epoch-claims.js';
import { refused, suiteRoots } from '../helpers.js';

describe('epoch claims on disk', () => {
  const root = suiteRoots();
  const epochsDir = async () => {
    const dir = join(await root(), 'epochs');
    await mkdir(dir, { mode: 0o700 });
    return dir;
  };

  it('knows no epoch in a missing or empty directory', async () => {
    const dir = await epochsDir();
    assert.deepEqual(newestClaim(nodeFs, join(dir, 'missing')), { epoch: 0 });
    assert.deepEqual(newestClaim(nodeFs, dir), { epoch: 0 });
  });

  it('lets exactly one claimer have an epoch, 0600, and reads the newest claim', async () => {
    const dir = await epochsDir();
    assert.equal(claimEpoch(nodeFs, dir, 1, { instanceId: 'A' }), true);
    assert.equal(claimEpoch(nodeFs, dir, 1, { instanceId: 'B' }), false);
    assert.equal(claimEpoch(nodeFs, dir, 2, { instanceId: 'B', ttlMs: 500 }), true);
    assert.equal((await stat(join(dir, claimName(2)))).mode & 0o777, 0o600);
    assert.deepEqual(newestClaim(nodeFs, dir), { epoch: 2, claim: { instanceId: 'B', ttlMs: 500 } });
  });

  it('rewrites a claim without the name ever going away, skipping temp names when reading', async () => {
    const dir = await epochsDir();
    claimEpoch(nodeFs, dir, 3, { instanceId: 'A' });
    // A rewrite's temp name is no number: a claim's reader never takes it for a newer epoch.
    await writeFile(join(dir, `${claimName(3)}.abcdef.tmp`), 'x');
    rewriteClaim(nodeFs, dir, 3, { instanceId: 'A', repairs: 1 });
    assert.deepEqual(newestClaim(nodeFs, dir), { epoch: 3, claim: { instanceId: 'A', repairs: 1 } });
    assert.equal(claimEpoch(nodeFs, dir, 3, { instanceId: 'B' }), false);
  });

  it(`keeps the newest ${KEEP_EPOCHS} claims or so`, async () => {
    const dir = await epochsDir();
    for (let e = 1; e <= 3 * KEEP_EPOCHS; e++) assert.ok(claimEpoch(nodeFs, dir, e, { instanceId: `i${e}` }));
    const left = (await readdir(dir)).map(Number).sort((a, b) => a - b);
    assert.equal(left.length, KEEP_EPOCHS + 1);
    assert.equal(left.at(-1), 3 * KEEP_EPOCHS);
  });

  it('refuses a claim that is a symbolic link (EIO naming it)', async () => {
    const dir = await epochsDir();
    const target = join(dir, '..', 'target');
    await writeFile(target, '{"instanceId":"T"}');
    await symlink(target, join(dir, claimName(4)));
    assert.throws(() => newestClaim(nodeFs, dir), refused(join(dir, claimName(4)), /link/));
    assert.equal(claimEpoch(nodeFs, dir, 4, { instanceId: 'A' }), false);
  });
});
