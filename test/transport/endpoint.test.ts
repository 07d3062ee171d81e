/** Where an owner listens (src/transport/endpoint.ts): the ipc socket's directory is private and checked. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ipcPath } from '../../src/transport/endpoint.js';
import { refused, suiteRoots, withUmask } from '../helpers.js';

describe('ipc endpoint', () => {
  const root = suiteRoots();

  it('puts the socket in <root>/run, made 0700 under umask 0', async () => {
    const dir = await root();
    const path = await withUmask(0, () => ipcPath(dir, 'i1'));
    assert.equal(path, join(dir, 'run', 'i1.sock'));
    assert.equal((await lstat(join(dir, 'run'))).mode & 0o777, 0o700);
  });

  it('refuses a run directory that is a symbolic link, others may write, or another uid owns', async () => {
    const dir = await root();
    const run = join(dir, 'run');
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o755 });
    await chmod(elsewhere, 0o755);
    await symlink(elsewhere, run);
    assert.throws(() => ipcPath(dir, 'i1'), refused(run, /is a symbolic link/));
    assert.equal((await lstat(elsewhere)).mode & 0o777, 0o755, 'its target is not chmodded');
    await rm(run);
    await mkdir(run);
    await chmod(run, 0o733);
    assert.throws(() => ipcPath(dir, 'i1'), refused(run, /writable by group or others \(mode 0733\)/));
    await chmod(run, 0o700);
    await chown(run, 4321, 4321);
    assert.throws(() => ipcPath(dir, 'i1'), refused(run, /is owned by uid 4321/));
    assert.deepEqual(await readdir(run), []);
  });

  it('for a root too long for a socket path, refuses a directory of that name in the temp dir that is not ours', async () => {
    const dir = await root();
    const long = join(dir, 'x'.repeat(120));
    // The name is predictable (uid and a hash of the root): another user can create it first.
    const theirs = join(tmpdir(), `leasehold-${process.getuid!()}-${createHash('sha256').update(long).digest('hex').slice(0, 12)}`);
    await mkdir(theirs, { mode: 0o700 });
    try {
      await chown(theirs, 4321, 4321);
      assert.throws(() => ipcPath(long, 'i1'), refused(theirs, /is owned by uid 4321/));
      await chown(theirs, process.getuid!(), process.getgid!());
      assert.equal(dirname(ipcPath(long, 'i1')), theirs);
    } finally {
      await rm(theirs, { recursive: true, force: true });
    }
  });
});
