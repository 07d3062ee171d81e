import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { FakeClock, systemClock } from '../../src/clock.js';
import { LeaseholdError } from '../../src/errors.js';
import { FileMutex, LOCK_STALE_MIN_MS } from '../../src/lease/file-mutex.js';
import { processStartOf } from '../../src/lease/process-identity.js';
import { deadPid, suiteRoots } from '../helpers.js';

describe('the file mutex', () => {
  const root = suiteRoots();
  const recordIn = async () => join(await root(), 'record.json');
  const never = () => false;

  it('holds a 0700 lock directory and a 0600 holder file naming this process; release removes both', async () => {
    const path = await recordIn();
    const mutex = new FileMutex({ fs: nodeFs, clock: systemClock });
    const hold = await mutex.acquire(path, 'k', never);
    assert.equal((await stat(`${path}.lock`)).mode & 0o777, 0o700);
    assert.equal((await stat(`${path}.lock-holder`)).mode & 0o777, 0o600);
    assert.equal(JSON.parse(await readFile(`${path}.lock-holder`, 'utf8')).pid, process.pid);
    assert.equal(hold.compromised(), false);
    hold.release();
    hold.release(); // a second release is harmless
    assert.deepEqual(await readdir(join(path, '..')), []);
  });

  it('waits lockWaitMs for a busy mutex, then reports ETIMEOUT naming the lock and what is contended', async () => {
    const path = await recordIn();
    const mutex = new FileMutex({ fs: nodeFs, clock: systemClock, lockWaitMs: 60 });
    const hold = await mutex.acquire(path, '/app/files/owner', never);
    const started = systemClock.now();
    await assert.rejects(
      mutex.acquire(path, '/app/files/owner', never),
      (e) => e instanceof LeaseholdError && e.code === 'ETIMEOUT' && e.path === `${path}.lock` && e.message.includes('/app/files/owner'),
    );
    assert.ok(systemClock.now() - started >= 60);
    hold.release();
    (await mutex.acquire(path, '/app/files/owner', never)).release();
  });

  it('breaks at once the lock of a holder that is gone, never that of a live one', async () => {
    const path = await recordIn();
    const mutex = new FileMutex({ fs: nodeFs, clock: systemClock, lockWaitMs: 50 });
    await mkdir(`${path}.lock`);
    await writeFile(`${path}.lock-holder`, JSON.stringify({ pid: deadPid(), processStart: null, host: hostname() }));
    (await mutex.acquire(path, 'k', never)).release();
    await mkdir(`${path}.lock`);
    await writeFile(
      `${path}.lock-holder`,
      JSON.stringify({ pid: process.pid, processStart: processStartOf(process.pid), host: hostname() }),
    );
    await assert.rejects(mutex.acquire(path, 'k', never), (e) => (e as LeaseholdError).code === 'ETIMEOUT');
    await rm(`${path}.lock`, { recursive: true });
  });

  it('across hosts, a live lock is broken only by a peer whose clock runs ahead of its mtime by the staleness', async () => {
    // Another computer on the same data root (a network file system): its lock's mtime is written by that
    // computer's (or the server's) clock. Seen from here, a clock behind ours makes a live lock look older.
    const skewed = (ms: number) =>
      ({
        ...nodeFs,
        statSync: (p: string) => {
          const st = nodeFs.statSync(p);
          if (p.endsWith('.lock')) st.mtime = new Date(st.mtime.getTime() - ms);
          return st;
        },
      }) as typeof nodeFs;
    const path = await recordIn();
    const here = new FileMutex({ fs: nodeFs, clock: systemClock });
    // The holder is on another host: its pid says nothing here, so only the staleness can break its lock.
    const held = await here.acquire(path, 'k', never);
    await writeFile(`${path}.lock-holder`, JSON.stringify({ pid: 1, processStart: null, host: 'other-host' }));
    const within = new FileMutex({ fs: skewed(LOCK_STALE_MIN_MS / 2), clock: systemClock, lockWaitMs: 50 });
    await assert.rejects(within.acquire(path, 'k', never), (e) => (e as LeaseholdError).code === 'ETIMEOUT', 'skew below the staleness');
    const beyond = new FileMutex({ fs: skewed(LOCK_STALE_MIN_MS + 1000), clock: systemClock, lockWaitMs: 50 });
    const broke = await beyond.acquire(path, 'k', never); // mutual exclusion lost: the epoch claims still fence
    broke.release();
    held.release();
  });

  it('counts a hold that lasted half the staleness or more as compromised', async () => {
    const path = await recordIn();
    const clock = new FakeClock();
    const mutex = new FileMutex({ fs: nodeFs, clock, staleMs: 1 });
    assert.equal(mutex.staleMs, LOCK_STALE_MIN_MS, "clamped to proper-lockfile's floor");
    const hold = await mutex.acquire(path, 'k', never);
    clock.stall(LOCK_STALE_MIN_MS / 2 - 1);
    assert.equal(hold.compromised(), false);
    clock.stall(1);
    assert.equal(hold.compromised(), true);
    hold.release();
  });

  it('asks once to recreate a directory that is gone, and reports EIO when it stays gone', async () => {
    const dir = join(await root(), 'key');
    const path = join(dir, 'record.json');
    const mutex = new FileMutex({ fs: nodeFs, clock: systemClock });
    let asked = 0;
    const hold = await mutex.acquire(path, 'k', () => {
      asked++;
      nodeFs.mkdirSync(dir, { mode: 0o700 });
      return true;
    });
    assert.equal(asked, 1);
    hold.release();
    await rm(dir, { recursive: true });
    await assert.rejects(
      mutex.acquire(path, 'k', () => ++asked > 0),
      (e) => e instanceof LeaseholdError && e.code === 'EIO',
    );
    assert.equal(asked, 2, 'asked once, then refused');
  });

  it('refuses lockWaitMs below 0', () => {
    assert.throws(
      () => new FileMutex({ fs: nodeFs, clock: systemClock, lockWaitMs: -1 }),
      (e) => (e as LeaseholdError).code === 'EINVALIDCONFIG',
    );
  });
});
