/**
 * A really full disk under a live cluster: the data root is a small size-limited file system (tmpfs,
 * mounted here; where the machine does not allow a mount the test says so and is skipped, and the chaos
 * run's injected ENOSPC covers the journal). The disk is filled while instances mutate; every refusal names
 * its path; once space is freed an owner serves again, and every acknowledged mutation is there exactly once.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, writeSync, closeSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from './cluster.js';
import { delay, until } from '../helpers.js';

function mountSmallDisk(): { dir: string; unmount: () => void } | string {
  if (process.platform !== 'linux') return 'tmpfs mounts are Linux only';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'mounting a tmpfs needs root';
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-small-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmdirSync(dir);
    return `mount -t tmpfs failed here (${(r.stderr || r.error?.message || '').trim()})`;
  }
  return {
    dir,
    unmount: () => {
      spawnSync('umount', ['-l', dir]);
      rmdirSync(dir);
    },
  };
}

/** Fills the file system holding `path` until ENOSPC; returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return n;
}

describe('a full disk under the data root', () => {
  const disk = mountSmallDisk();
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.stop();
    if (typeof disk !== 'string') disk.unmount();
  });

  it('is reported with the path; after space is freed an owner serves and no acknowledged mutation is lost', async (t) => {
    if (typeof disk === 'string') {
      console.log(`# skipped: ${disk}`);
      return t.skip(disk);
    }
    const dataRoot = join(disk.dir, 'root');
    cluster = await Cluster.create(['--ttl', '1500'], dataRoot);
    const a = cluster.start();
    const b = cluster.start();
    await cluster.waitSettled();
    let k = 0;
    const send = (m: typeof a) => {
      const id = `${m.name}-${++k}`;
      m.proc.send(JSON.stringify({ op: 'push', path: 'log', value: `${id}-${'x'.repeat(200)}`, id }));
      return id;
    };
    for (let i = 0; i < 50; i++) send(i % 2 ? a : b);
    await until(() => cluster!.log.filter((l) => l.event === 'ack').length >= 50, 10_000, '50 acks before the disk fills');

    const filler = join(disk.dir, 'filler');
    assert.ok(fill(filler) > 0);
    // Enough to outgrow the owner's preallocated segment, and the lease's renewals need space too.
    for (let i = 0; i < 600; i++) {
      send(i % 2 ? a : b);
      if (i % 50 === 0) await delay(20);
    }
    const refusal = await until(
      () => cluster!.log.find((l) => (l.event === 'error' || l.event === 'lost') && /ENOSPC|no space/i.test(String(l.message))),
      20_000,
      'a refusal naming the full disk',
    );
    assert.match(String(refusal.message), new RegExp(disk.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'names the path');

    console.log(`# full disk: ${refusal.name} ${refusal.event} ${String(refusal.message).slice(0, 160)}`);
    rmSync(filler);
    await until(() => cluster!.settled(), 30_000, 'an owner serving again after space was freed');
    const last = Array.from({ length: 10 }, (_, i) => send(i % 2 ? a : b));
    const answered = (id: string) => cluster!.log.some((l) => (l.event === 'ack' || l.event === 'error') && l.id === id);
    await until(() => last.every(answered), 20_000, 'the last 10 pushes answered');
    // Taken before the states are read: each of these was committed before its ack, so it is in any state
    // at the owner's version of that moment or later (an ack that comes later is not checked).
    const acked = cluster.log.filter((l) => l.event === 'ack').map((l) => String(l.id));
    // Everyone converges; every acknowledged push is there exactly once.
    const states = await until(
      async () => {
        const s = await Promise.all(
          [a, b].map(async (m) => {
            const id = `get-${Math.random()}`;
            m.proc.send(JSON.stringify({ op: 'get', id }));
            return (await m.proc.waitFor((l) => l.event === 'state' && l.id === id)) as { version: number; state: { log?: string[] } };
          }),
        );
        return s[0]!.version === s[1]!.version && (s[0]!.state.log?.length ?? 0) > 0 ? s : undefined;
      },
      20_000,
      'both at one version',
    );
    assert.deepEqual(states[0]!.state, states[1]!.state);
    const log = (states[0]!.state.log ?? []).map((v) => v.split('-x')[0]!);
    assert.deepEqual(
      acked.filter((id) => !log.includes(id)),
      [],
      'acknowledged but missing',
    );
    assert.equal(new Set(log).size, log.length, 'applied twice');
    assert.deepEqual(cluster.doubleOwners(), []);
  });
});
