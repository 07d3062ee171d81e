import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  readFile,
  writeFile,
  unlink,
  stat,
  lstat,
  chmod,
  chown,
  copyFile,
  link,
  mkdir,
  readdir,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import * as nodeSyncFs from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { processStartOf } from '../../src/lease/process-identity.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { Worker } from 'node:worker_threads';
import { FileLeaseStore, FileStorage } from '../../src/lease/file-store.js';
import { LeaseKey } from '../../src/lease/key.js';
import { serializeRecord } from '../../src/lease/record.js';
import type { HeldLease } from '../../src/lease/held-lease.js';
import { LeaseholdError } from '../../src/errors.js';
import { CREATE } from '../../src/private-files.js';
import { leaseContract, TTL } from './contract.js';
import { deadPid, delay, PausableClock, refused, suiteRoots, tempRoot, until, withUmask } from '../helpers.js';
import type { LeaseStore } from '../../src/lease/store.js';

leaseContract('FileLeaseStore on disk', async () => {
  const root = await tempRoot();
  let wallOffset = 0;
  const clock: Clock = {
    now: () => systemClock.now(),
    wallNow: () => systemClock.wallNow() + wallOffset,
    setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms),
  };
  const stores: FileLeaseStore[] = [];
  const clocks = new Map<LeaseStore, PausableClock>();
  const store = () => {
    const c = new PausableClock(clock);
    const s = new FileLeaseStore({ dataRoot: root.dir, clock: c, pollIntervalMs: 10 });
    stores.push(s);
    clocks.set(s, c);
    return s;
  };
  const recordPath = (key: string) => store().recordPath(key);
  return {
    clock,
    store,
    advance: (ms) => delay(ms),
    hang: (s) => clocks.get(s)!.pause(),
    resume: (s) => clocks.get(s)!.resume(),
    jumpWall: (ms) => void (wallOffset += ms),
    crash: async (lease) => {
      (lease as HeldLease).abandon('closed');
      await delay(20);
      const path = recordPath(String(lease.key));
      const rec = JSON.parse(await readFile(path, 'utf8'));
      rec.pid = deadPid();
      await writeFile(path, JSON.stringify(rec));
    },
    deleteRecord: (key) => unlink(recordPath(key)),
    writeRecordUnsafely: (record) => writeFile(recordPath(record.key), serializeRecord(record)),
    corruptRecord: (key) => writeFile(recordPath(key), '{"format":1,"key":"/app/con'),
    dispose: async () => {
      await Promise.all(stores.map((s) => s.close()));
      await root.remove();
    },
  };
});

describe('FileLeaseStore on disk', () => {
  const root = suiteRoots();
  const KEY = '/app/files/owner';

  it('writes the record 0600 in 0700 directories, with every documented field', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    const lease = await store.acquire(KEY, { ttlMs: 1000, instanceId: 'A', meta: { endpoint: 'e' } });
    const path = store.recordPath(KEY);
    assert.equal(path, join(dir, 'leasehold', 'leases', 'app', 'files', 'owner', 'record.json'));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'leasehold'))).mode & 0o777, 0o700);
    const rec = JSON.parse(await readFile(path, 'utf8'));
    for (const f of [
      'key',
      'instanceId',
      'epoch',
      'pid',
      'processStart',
      'host',
      'acquiredAt',
      'renewedAt',
      'ttlMs',
      'renewIntervalMs',
      'meta',
    ])
      assert.ok(f in rec, `record has ${f}`);
    assert.match(rec.processStart, /^linux:\d+$/);
    await lease.release();
    await store.close();
  });

  it('tightens a data root directory that others can read', async () => {
    const dir = await root();
    await mkdir(join(dir, 'leasehold'), { mode: 0o755 });
    await chmod(join(dir, 'leasehold'), 0o755);
    const store = new FileLeaseStore({ dataRoot: dir });
    await store.open();
    assert.equal((await stat(join(dir, 'leasehold'))).mode & 0o777, 0o700);
  });

  it('names the path when the data root is missing, a file, or read-only', async () => {
    const dir = await root();
    const missing = join(dir, 'nope');
    await assert.rejects(new FileLeaseStore({ dataRoot: missing, createDataRoot: false }).open(), (e) => {
      return e instanceof LeaseholdError && e.code === 'EIO' && e.path === missing && e.message.includes(missing);
    });
    // created when allowed
    await new FileLeaseStore({ dataRoot: missing }).open();
    assert.ok((await stat(missing)).isDirectory());
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    await assert.rejects(
      new FileLeaseStore({ dataRoot: file }).open(),
      (e) => e instanceof LeaseholdError && e.code === 'EIO' && e.path === file,
    );
    assert.throws(
      () => new FileLeaseStore({ dataRoot: '' }),
      (e) => e instanceof LeaseholdError && e.code === 'EINVALIDCONFIG' && e.field === 'dataRoot',
    );
  });

  it('reports an unwritable data root as EIO naming the path (injected fs: root ignores modes)', async () => {
    const dir = await root();
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const fs = {
      ...nodeSyncFs,
      accessSync: () => {
        throw eacces;
      },
    };
    await assert.rejects(
      new FileLeaseStore({ dataRoot: dir, fs }).acquire(KEY),
      (e) => e instanceof LeaseholdError && e.code === 'EIO' && e.path === dir && /may write/.test(e.message),
    );
  });

  it('refuses a record from a newer format with EFORMAT naming the file, without overwriting it', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    const l = await store.acquire(KEY, { ttlMs: 1000 });
    await l.release();
    const path = store.recordPath(KEY);
    const rec = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...rec, format: 99, releasedAt: null }));
    await assert.rejects(
      store.acquire(KEY, { ttlMs: 1000 }),
      (e) => e instanceof LeaseholdError && e.code === 'EFORMAT' && e.path === path,
    );
    assert.equal(JSON.parse(await readFile(path, 'utf8')).format, 99);
  });

  it('a renewal that keeps failing with I/O errors ends the lease with reason io, never a throw', async () => {
    const dir = await root();
    let failing = false;
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    const fs = {
      ...nodeSyncFs,
      openSync: ((...args: Parameters<typeof nodeSyncFs.openSync>) => {
        if (failing) throw enospc;
        return nodeSyncFs.openSync(...args);
      }) as typeof nodeSyncFs.openSync,
    };
    const store = new FileLeaseStore({ dataRoot: dir, fs });
    const lease = await store.acquire(KEY, { ttlMs: TTL, instanceId: 'A' });
    failing = true;
    await delay(TTL + 100);
    assert.equal(lease.lost.aborted, true);
    const reason = lease.lost.reason as LeaseholdError;
    assert.equal(reason.code, 'ELOST');
    assert.equal(reason.reason, 'io');
    assert.match(String((reason.cause as Error).message), /ENOSPC/);
    failing = false;
    await store.close();
  });

  it('a holder that stalls inside a renewal and resumes after its lock was broken cannot undo its successor', async () => {
    // The chain behind a double holder seen under chaos: A stops mid-renewal holding the mutex; the mutex is
    // broken as stale; B takes over; A resumes, its renewal overwrites B's record and its release then marks
    // that stale record released. Nobody may take the lease from B because of it.
    const dir = await root();
    const gate = new SharedArrayBuffer(4);
    const worker = new Worker(new URL('./fixtures/stalled-holder.js', import.meta.url), { workerData: { dataRoot: dir, key: KEY, gate } });
    // Each step is bounded: a hang here fails with the step's name instead of stalling the suite.
    const next = (what: string) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the stalled holder never reported "${what}"`)), 10_000);
        worker.on('message', (m) => m === what && (clearTimeout(t), resolve()));
      });
    try {
      await next('acquired');
      const atWrite = next('at-write');
      worker.postMessage('arm');
      await atWrite; // A is stopped inside its renewal, holding the mutex
      const storeB = new FileLeaseStore({ dataRoot: dir, pollIntervalMs: 10 });
      await rm(`${storeB.recordPath(KEY)}.lock`, { recursive: true }); // what a contender does to a stale lock
      const b = await until(() => storeB.acquire(KEY, { ttlMs: 300, instanceId: 'B' }).catch(() => undefined), 3000, 'B takes over');
      assert.equal(b.epoch, 2);
      const done = next('done');
      worker.postMessage('finish');
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0); // A resumes: its late renewal lands, then it tries to release
      await done;
      const storeC = new FileLeaseStore({ dataRoot: dir });
      await assert.rejects(storeC.acquire(KEY, { ttlMs: 300, instanceId: 'C' }), (e) => (e as LeaseholdError).code === 'ECONFLICT');
      b.check();
      await delay(250); // B renews (every 100 ms) and repairs the record
      b.check();
      assert.equal((await storeC.inspect(KEY))?.instanceId, 'B');
      await Promise.all([storeB.close(), storeC.close()]);
    } finally {
      await worker.terminate();
    }
  });

  it('an acquisition that stalled inside its transaction (its mutex may have been broken) wins nothing and frees nothing', async () => {
    const dir = await root();
    const holder = new FileLeaseStore({ dataRoot: dir });
    const a = await holder.acquire(KEY, { ttlMs: 300, instanceId: 'A' });
    (a as HeldLease).abandon('closed'); // A stops renewing (its process lives on: only the ttl frees the lease)
    // B's clock is its own: B sees A's record, a ttl passes, and B stalls 1.5 s between its epoch claim
    // and its record write (past half of proper-lockfile's 2 s staleness: its mutex may have been broken).
    let offset = 0;
    const clock: Clock = {
      now: () => systemClock.now() + offset,
      wallNow: () => systemClock.wallNow() + offset,
      setTimeout: systemClock.setTimeout,
    };
    const fs = {
      ...nodeSyncFs,
      openSync: ((path: nodeSyncFs.PathLike, flags: nodeSyncFs.OpenMode, mode?: nodeSyncFs.Mode) => {
        if (String(path).includes('epochs') && flags === CREATE) offset += 1500;
        return nodeSyncFs.openSync(path, flags, mode);
      }) as typeof nodeSyncFs.openSync,
    };
    const storeB = new FileLeaseStore({ dataRoot: dir, clock, fs });
    await assert.rejects(storeB.acquire(KEY, { ttlMs: 300, instanceId: 'B' }), (e) => (e as LeaseholdError).code === 'ECONFLICT');
    offset += 300;
    await assert.rejects(
      storeB.acquire(KEY, { ttlMs: 300, instanceId: 'B' }),
      (e) => (e as LeaseholdError).code === 'ECONFLICT' && /broken during acquisition/.test((e as Error).message),
    );
    // B's record stays unreleased: nobody else may take the lease at once (A might have renewed meanwhile).
    const state = await new FileLeaseStore({ dataRoot: dir }).describe(KEY);
    assert.equal(state.state, 'held');
    assert.equal(state.state === 'held' && state.record.instanceId, 'B');
    assert.equal(state.state === 'held' && state.record.releasedAt, null);
    await Promise.all([holder.close(), storeB.close()]);
  });

  it('breaks at once a lock whose holder process is gone (killed inside a transaction), never a live one', async () => {
    const dir = await root();
    // lockWaitMs 100: far below proper-lockfile's 2 s staleness, so only the holder check can free it.
    const store = new FileLeaseStore({ dataRoot: dir, lockWaitMs: 100 });
    const first = await store.acquire(KEY, { ttlMs: 1000 });
    await first.release();
    const lockDir = `${store.recordPath(KEY)}.lock`;
    const holder = `${store.recordPath(KEY)}.lock-holder`;
    await mkdir(lockDir);
    await writeFile(holder, JSON.stringify({ pid: deadPid(), processStart: null, host: hostname() }));
    const second = await store.acquire(KEY, { ttlMs: 1000 });
    assert.equal(second.epoch, 2);
    await second.release();
    await mkdir(lockDir);
    await writeFile(holder, JSON.stringify({ pid: process.pid, processStart: processStartOf(process.pid), host: hostname() }));
    await assert.rejects(store.acquire(KEY, { ttlMs: 1000 }), (e) => (e as LeaseholdError).code === 'ECONFLICT');
    await rm(lockDir, { recursive: true });
    await store.close();
  });

  it("runs proper-lockfile's file calls and the change notifications through the injected fs", async () => {
    const dir = await root();
    const calls: string[] = [];
    const fs = {
      ...nodeSyncFs,
      mkdirSync: ((path: nodeSyncFs.PathLike, options?: nodeSyncFs.MakeDirectoryOptions) => {
        if (String(path).endsWith('.lock')) calls.push('mkdir lock');
        return nodeSyncFs.mkdirSync(path, options);
      }) as typeof nodeSyncFs.mkdirSync,
      rmdirSync: ((path: nodeSyncFs.PathLike) => {
        if (String(path).endsWith('.lock')) calls.push('rmdir lock');
        return nodeSyncFs.rmdirSync(path);
      }) as typeof nodeSyncFs.rmdirSync,
      watch: ((...args: Parameters<typeof nodeSyncFs.watch>) => {
        calls.push('watch');
        return nodeSyncFs.watch(...args);
      }) as typeof nodeSyncFs.watch,
    };
    const store = new FileLeaseStore({ dataRoot: dir, fs });
    const lease = await store.acquire(KEY);
    assert.deepEqual(calls, ['mkdir lock', 'rmdir lock']);
    store.watch(KEY, () => undefined)();
    assert.deepEqual(calls.slice(2), ['watch']);
    await lease.release();
    await store.close();
  });

  it('keeps only the newest epoch claims', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    for (let i = 0; i < 25; i++) await (await store.acquire(KEY, { ttlMs: 1000 })).release();
    await delay(20);
    const claims = await readdir(join(dir, 'leasehold', 'leases', 'app', 'files', 'owner', 'epochs'));
    assert.ok(claims.length <= 17, `${claims.length} claims kept`);
    const l = await store.acquire(KEY, { ttlMs: 1000 });
    assert.equal(l.epoch, 26);
    await l.release();
  });

  it('keeps the record as one padded block, rewritten in place; other sizes are replaced by rename', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    const lease = await store.acquire(KEY, { ttlMs: 300, instanceId: 'P' });
    const path = store.recordPath(KEY);
    const first = await stat(path);
    assert.equal(first.size, 4096);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).instanceId, 'P', 'padding is JSON whitespace');
    const n = lease.record.renewals;
    await until(async () => lease.record.renewals >= n + 2 || undefined, 2000, 'two renewals');
    const after = await stat(path);
    assert.equal(after.ino, first.ino, 'renewed in place, not replaced');
    assert.equal(after.size, 4096);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).renewals, lease.record.renewals);
    // An unpadded record (an older leasehold, or a hand edit) is replaced whole, then padded.
    await writeFile(path, JSON.stringify(JSON.parse(await readFile(path, 'utf8'))));
    await lease.updateMeta({ note: 'x' });
    assert.equal((await stat(path)).size, 4096);
    // A record larger than a block is written unpadded, by rename, and read back as usual.
    await lease.updateMeta({ note: 'y'.repeat(5000) });
    assert.ok((await stat(path)).size > 4096);
    assert.equal((await store.inspect(KEY))?.meta.note, 'y'.repeat(5000));
    await lease.updateMeta({ note: 'z' });
    assert.equal((await stat(path)).size, 4096, 'back to one block');
    assert.equal((await store.inspect(KEY))?.meta.note, 'z');
    await lease.release();
    await store.close();
  });

  it('reads again a block that does not parse (a read that raced an in-place write)', async () => {
    const dir = await root();
    const writer = new FileLeaseStore({ dataRoot: dir });
    const lease = await writer.acquire(KEY, { ttlMs: 1000, instanceId: 'T' });
    let torn = 2;
    const recordFds = new Set<number>();
    const fs = {
      ...nodeSyncFs,
      openSync: ((path: nodeSyncFs.PathLike, flags: nodeSyncFs.OpenMode, mode?: nodeSyncFs.Mode) => {
        const fd = nodeSyncFs.openSync(path, flags, mode);
        if (String(path).endsWith('record.json')) recordFds.add(fd);
        return fd;
      }) as typeof nodeSyncFs.openSync,
      closeSync: (fd: number) => {
        recordFds.delete(fd);
        nodeSyncFs.closeSync(fd);
      },
      readFileSync: ((file: nodeSyncFs.PathOrFileDescriptor, options?: unknown) => {
        const real = nodeSyncFs.readFileSync(file, options as BufferEncoding) as string;
        if (typeof file === 'number' && recordFds.has(file) && torn > 0) {
          torn--;
          return real.slice(0, 100) + '#'.repeat(real.length - 100); // half a record, same size
        }
        return real;
      }) as typeof nodeSyncFs.readFileSync,
    };
    const reader = new FileLeaseStore({ dataRoot: dir, fs });
    assert.equal((await reader.inspect(KEY))?.instanceId, 'T', 'two torn reads, then the whole record');
    assert.equal(torn, 0);
    torn = 3; // torn three times in a row: reported as unreadable (held for a ttl), never misread
    const state = await reader.describe(KEY);
    assert.equal(state.state, 'unknown');
    await lease.release();
    await writer.close();
  });

  it("counts each repair of a damaged record in the epoch's claim, rewritten in place", async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    const lease = await store.acquire(KEY, { ttlMs: 300, instanceId: 'R' });
    const epochs = join(dir, 'leasehold', 'leases', 'app', 'files', 'owner', 'epochs');
    const claimPath = join(epochs, String(lease.epoch).padStart(15, '0'));
    const claim = async () => JSON.parse(await readFile(claimPath, 'utf8')) as { instanceId: string; repairs?: number; ttlMs: number };
    assert.equal((await claim()).repairs, undefined, 'a fresh claim has no repairs');
    const renewed = async () => {
      const n = lease.record.renewals;
      await until(async () => lease.record.renewals > n || undefined, 2000, 'a renewal');
    };
    await renewed();
    assert.equal((await claim()).repairs, undefined, 'an intact record is renewed without touching the claim');
    await unlink(store.recordPath(KEY));
    await renewed();
    assert.equal((await claim()).repairs, 1);
    await writeFile(store.recordPath(KEY), 'garbage');
    await renewed();
    const c = await claim();
    assert.equal(c.repairs, 2);
    assert.equal(c.instanceId, 'R');
    assert.equal(c.ttlMs, 300);
    assert.equal((await store.inspect(KEY))?.instanceId, 'R', 'the record is repaired');
    assert.deepEqual(
      (await readdir(epochs)).filter((n) => !/^\d+$/.test(n)),
      [],
      'no temp file left',
    );
    // The claim file is deleted too: the repair recreates it.
    await unlink(claimPath);
    await unlink(store.recordPath(KEY));
    await renewed();
    assert.equal((await claim()).repairs, 1);
    await lease.release();
    await store.close();
  });
});

describe('FileLeaseStore: modes, ownership and links', () => {
  const root = suiteRoots();
  const KEY = '/app/files/owner';
  const keyDir = (dir: string) => join(dir, 'leasehold', 'leases', 'app', 'files', 'owner');
  const renewed = async (lease: { record: { renewals: number } }) => {
    const n = lease.record.renewals;
    await until(async () => lease.record.renewals > n || undefined, 2000, 'a renewal');
  };
  /** Every directory and file under `dir` (lstat: a link is reported as one), with its mode. */
  const modes = async (dir: string): Promise<Map<string, { mode: number; kind: string }>> => {
    const out = new Map<string, { mode: number; kind: string }>();
    const walk = async (d: string) => {
      for (const name of await readdir(d)) {
        const p = join(d, name);
        const st = await lstat(p);
        out.set(p, { mode: st.mode & 0o777, kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other' });
        if (st.isDirectory()) await walk(p);
      }
    };
    await walk(dir);
    return out;
  };

  it('makes every directory 0700 and every file 0600 under umask 0, the mutex directory and its holder file included', async () => {
    const dir = await root();
    await withUmask(0, async () => {
      const store = new FileLeaseStore({ dataRoot: dir, pollIntervalMs: 10 });
      const lease = await store.acquire(KEY, { ttlMs: 300, instanceId: 'U' });
      await unlink(store.recordPath(KEY)); // the repair rewrites the claim (temp + rename) and the record
      await renewed(lease);
      // Seen from inside a transaction: proper-lockfile's directory and the holder file exist only then.
      const seen = await new FileStorage({ dataRoot: dir }).withMutex(LeaseKey.from(KEY), async () => modes(join(dir, 'leasehold')));
      const lockDir = `${store.recordPath(KEY)}.lock`;
      assert.deepEqual(seen.get(lockDir), { mode: 0o700, kind: 'dir' }, 'the mutex directory');
      assert.deepEqual(seen.get(`${lockDir}-holder`), { mode: 0o600, kind: 'file' }, 'the holder file');
      assert.ok(seen.has(store.recordPath(KEY)) && seen.has(join(keyDir(dir), 'epochs', '000000000000001')));
      for (const [p, m] of seen) assert.equal(m.mode, m.kind === 'dir' ? 0o700 : 0o600, `${p} (${m.kind})`);
      await lease.release();
      await store.close();
    });
  });

  it('refuses a record.json that is a symbolic link, to read or write, claims no epoch, and leaves its target alone', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    await (await store.acquire(KEY, { ttlMs: 1000, instanceId: 'A' })).release();
    const path = store.recordPath(KEY);
    const target = join(dir, 'elsewhere.json');
    await copyFile(path, target); // a valid released record: followed, it would be rewritten in place
    await chmod(target, 0o644);
    await unlink(path);
    await symlink(target, path);
    const before = await readFile(target, 'utf8');
    await assert.rejects(
      store.acquire(KEY, { ttlMs: 1000, instanceId: 'B', meta: { secret: 'hush' } }),
      refused(path, /is a symbolic link/),
    );
    await assert.rejects(new FileLeaseStore({ dataRoot: dir }).describe(KEY), refused(path, /is a symbolic link/));
    assert.equal(await readFile(target, 'utf8'), before);
    assert.equal((await stat(target)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(join(keyDir(dir), 'epochs')), ['000000000000001'], 'no epoch burnt');
    await store.close();
  });

  it('never writes the mutex holder file through a symbolic link planted at its path', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    await (await store.acquire(KEY, { ttlMs: 1000 })).release();
    const holder = `${store.recordPath(KEY)}.lock-holder`;
    const target = join(dir, 'precious');
    await writeFile(target, 'precious', { mode: 0o644 });
    await symlink(target, holder);
    const lease = await store.acquire(KEY, { ttlMs: 1000 });
    assert.equal(lease.epoch, 2);
    assert.equal(await readFile(target, 'utf8'), 'precious');
    await lease.release();
    await assert.rejects(lstat(holder), (e) => (e as NodeJS.ErrnoException).code === 'ENOENT', 'the link was replaced, then removed');
    await store.close();
  });

  it('refuses an epoch claim that is a symbolic link, and leaves its target alone', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir });
    await (await store.acquire(KEY, { ttlMs: 1000 })).release();
    const claim = join(keyDir(dir), 'epochs', '000000000000001');
    const target = join(dir, 'claim-elsewhere');
    await rename(claim, target);
    await symlink(target, claim);
    const before = await readFile(target, 'utf8');
    await assert.rejects(store.acquire(KEY, { ttlMs: 1000 }), refused(claim, /is a symbolic link/));
    assert.equal(await readFile(target, 'utf8'), before);
    assert.deepEqual(await readdir(join(keyDir(dir), 'epochs')), ['000000000000001'], 'no epoch burnt');
    await store.close();
  });

  it('replaces, never rewrites in place, a record that others may read or that has a second hard link', async () => {
    const dir = await root();
    const store = new FileLeaseStore({ dataRoot: dir, pollIntervalMs: 10 });
    const lease = await store.acquire(KEY, { ttlMs: 300, instanceId: 'H', meta: { secret: 'hush' } });
    const path = store.recordPath(KEY);
    await chmod(path, 0o644);
    await renewed(lease);
    await renewed(lease); // the first may have been under way before the chmod
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'replaced by a 0600 file');
    const other = join(dir, 'second-name');
    await link(path, other);
    const frozen = await readFile(other, 'utf8');
    await renewed(lease);
    await renewed(lease);
    assert.equal(await readFile(other, 'utf8'), frozen, 'not written through the other link');
    assert.equal((await stat(path)).nlink, 1);
    assert.equal((await store.inspect(KEY))?.renewals, lease.record.renewals);
    await lease.release();
    await store.close();
  });

  it('refuses a directory under leasehold/ that others may write, that is not ours or is a link, naming it; creates nothing', async () => {
    const dir = await root();
    const app = join(dir, 'leasehold', 'leases', 'app');
    await mkdir(app, { recursive: true, mode: 0o700 });
    await chmod(app, 0o775);
    const store = new FileLeaseStore({ dataRoot: dir });
    await assert.rejects(store.acquire(KEY), refused(app, /is writable by group or others \(mode 0775\)/));
    assert.deepEqual(await readdir(app), []);
    await chmod(app, 0o700);
    await mkdir(join(app, 'files'), { mode: 0o700 });
    await chown(join(app, 'files'), 4321, 4321);
    await assert.rejects(store.acquire(KEY), refused(join(app, 'files'), new RegExp(`is owned by uid 4321, not ${process.getuid!()}`)));
    assert.deepEqual(await readdir(join(app, 'files')), []);
    await rm(join(app, 'files'), { recursive: true });
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    await symlink(elsewhere, join(app, 'files'));
    await assert.rejects(store.acquire(KEY), refused(join(app, 'files'), /is a symbolic link/));
    assert.deepEqual(await readdir(elsewhere), []);
    await unlink(join(app, 'files'));
    const lease = await store.acquire(KEY);
    assert.equal(lease.epoch, 1, 'the refusals burnt no epoch');
    await lease.release();
    await store.close();
  });

  it('refuses a leasehold/ directory that others may write instead of tightening it', async () => {
    const dir = await root();
    await mkdir(join(dir, 'leasehold'));
    await chmod(join(dir, 'leasehold'), 0o777);
    await assert.rejects(new FileLeaseStore({ dataRoot: dir }).open(), refused(join(dir, 'leasehold'), /writable by group or others/));
    assert.equal((await stat(join(dir, 'leasehold'))).mode & 0o777, 0o777);
  });
});
