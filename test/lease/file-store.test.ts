import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, unlink, stat, chmod, mkdir, readdir } from 'node:fs/promises';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../src/clock.js';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import type { HeldLease } from '../../src/lease/held-lease.js';
import { LeaseholdError } from '../../src/errors.js';
import { leaseContract, TTL } from './contract.js';
import { deadPid, delay, PausableClock, tempRoot } from '../helpers.js';
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
    corruptRecord: (key) => writeFile(recordPath(key), '{"format":1,"key":"/app/con'),
    dispose: async () => {
      await Promise.all(stores.map((s) => s.close()));
      await root.remove();
    },
  };
});

describe('FileLeaseStore on disk', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  const root = async () => {
    const r = await tempRoot();
    cleanups.push(r.remove);
    return r.dir;
  };
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
    const fs = { ...nodeFs, access: async () => Promise.reject(eacces) } as typeof nodeFs;
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
      ...nodeFs,
      open: (async (...args: Parameters<typeof nodeFs.open>) => {
        if (failing) throw enospc;
        return nodeFs.open(...args);
      }) as typeof nodeFs.open,
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
});
