/** Writing a snapshot beside a busy loop: its share of the loop, and the snapshot it leaves. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { SNAPSHOT_SYNC_IN_POOL_BYTES, writeSnapshot } from '../../../src/state/journal/compaction.js';
import { recoverDir, type JournalFs } from '../../../src/state/journal/index.js';
import { systemClock, type Clock } from '../../../src/clock.js';
import type { Json } from '../../../src/state/document.js';
import { withStateDir } from '../../helpers.js';

/**
 * A clock that moves only as work is done: each reading costs `perReadMs` (the serializer reads it once a
 * piece), and the other work on the loop advances it by `busyTurnMs` a turn. So the slices are counted in
 * pieces, not in this machine's speed.
 */
function workClock(perReadMs: number) {
  let t = 0;
  const clock: Clock = {
    now: () => (t += perReadMs),
    wallNow: () => systemClock.wallNow(),
    setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms),
  };
  return { clock, busy: (ms: number) => void (t += ms) };
}

/**
 * node:fs whose callback calls complete before the loop turns (done synchronously, answered on the next
 * tick): the turns the other work gets are then the snapshot's slices, not its waits for the disk.
 */
const noWaitFs: JournalFs = {
  ...nodeFs,
  write: ((fd: number, buf: Buffer, off: number, len: number, pos: number, cb: (err: Error | null, n?: number) => void) => {
    try {
      const n = nodeFs.writeSync(fd, buf, off, len, pos);
      process.nextTick(cb, null, n);
    } catch (err) {
      process.nextTick(cb, err as Error);
    }
  }) as unknown as typeof nodeFs.write,
  fdatasync: ((_fd: number, cb: (err: Error | null) => void) => process.nextTick(cb, null)) as typeof nodeFs.fdatasync,
  fsync: ((_fd: number, cb: (err: Error | null) => void) => process.nextTick(cb, null)) as typeof nodeFs.fsync,
};

/** Writes a snapshot of `state` while other work takes 10 ms of every turn; counts those turns. */
async function turnsBeside(dir: string, state: Json, behind: () => number): Promise<number> {
  const { clock, busy } = workClock(0.1);
  let turns = 0;
  let writing = true;
  const otherWork = () => {
    if (!writing) return;
    turns++;
    busy(10);
    setImmediate(otherWork);
  };
  setImmediate(otherWork);
  try {
    await writeSnapshot({
      dir,
      fs: noWaitFs,
      clock,
      guard: () => undefined,
      snapshot: { version: 1, epoch: 1, stateVersion: 0, state, dedup: {} },
      behind,
    });
  } finally {
    writing = false;
  }
  return turns;
}

describe('writeSnapshot beside a busy loop', () => {
  // 4 MiB of text in 32 KiB pieces: 128 readings of the clock by the serializer.
  const state = Object.fromEntries(Array.from({ length: 4096 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));

  it('takes a larger share of the loop as it falls behind, and writes the same snapshot', () =>
    withStateDir('leasehold-compaction-', async (dir) => {
      nodeFs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const onTime = await turnsBeside(dir, state, () => 0);
      const first = nodeFs.readFileSync(join(dir, 'snapshot-000000000000001.json'));
      nodeFs.rmSync(join(dir, 'snapshot-000000000000001.json'));
      const late = await turnsBeside(dir, state, () => 1);
      // On time a slice is a third of the other work's 10 ms turn (at least 4 ms: 40 pieces, 4 slices of
      // this state); behind, four times that turn (40 ms: 400 pieces, all of it in one slice).
      assert.ok(onTime >= 3, `on time, the other work ran ${onTime} turns meanwhile`);
      assert.ok(late * 2 <= onTime, `behind: ${late} turns of other work, against ${onTime} on time`);
      assert.deepEqual(nodeFs.readFileSync(join(dir, 'snapshot-000000000000001.json')), first);
      const recovered = recoverDir(dir);
      assert.deepEqual(recovered.snapshot?.state, state);
    }));

  /** node:fs recording the calls that write, sync and name a snapshot, in order. */
  function recordingFs(calls: string[]): JournalFs {
    const record =
      <K extends 'write' | 'writeSync' | 'fdatasync' | 'fdatasyncSync' | 'fsync' | 'fsyncSync' | 'renameSync'>(name: K) =>
      (...args: unknown[]) => (calls.push(name), (nodeFs[name] as (...a: unknown[]) => unknown)(...args));
    return {
      ...nodeFs,
      write: record('write') as typeof nodeFs.write,
      writeSync: record('writeSync') as typeof nodeFs.writeSync,
      fdatasync: record('fdatasync') as typeof nodeFs.fdatasync,
      fdatasyncSync: record('fdatasyncSync') as typeof nodeFs.fdatasyncSync,
      fsync: record('fsync') as typeof nodeFs.fsync,
      fsyncSync: record('fsyncSync') as typeof nodeFs.fsyncSync,
      renameSync: record('renameSync') as typeof nodeFs.renameSync,
    };
  }

  it('writes and syncs a small snapshot on the loop, without the thread pool', () =>
    withStateDir('leasehold-compaction-', async (dir) => {
      nodeFs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const calls: string[] = [];
      await writeSnapshot({
        dir,
        fs: recordingFs(calls),
        clock: systemClock,
        guard: () => undefined,
        snapshot: { version: 3, epoch: 1, stateVersion: 0, state: { a: 1 }, dedup: {} },
      });
      // The payload, the header, the file's sync, the rename, the directory's sync: none in the pool,
      // where syncs wait behind the journal's group commits.
      assert.deepEqual(calls, ['writeSync', 'writeSync', 'fdatasyncSync', 'renameSync', 'fsyncSync']);
      assert.deepEqual(recoverDir(dir).snapshot?.state, { a: 1 });
    }));

  it('flushes a large snapshot in the pool before its sync on the loop', () =>
    withStateDir('leasehold-compaction-', async (dir) => {
      nodeFs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const calls: string[] = [];
      const big = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
      const { bytes } = await writeSnapshot({
        dir,
        fs: recordingFs(calls),
        clock: systemClock,
        guard: () => undefined,
        snapshot: { version: 4, epoch: 1, stateVersion: 0, state: big, dedup: {} },
      });
      assert.ok(bytes > SNAPSHOT_SYNC_IN_POOL_BYTES, `${bytes} bytes: past the pool's threshold`);
      // After the chunks and the header: the pool's flush, then the loop's sync, the rename, the directory.
      assert.deepEqual(calls.slice(-4), ['fdatasync', 'fdatasyncSync', 'renameSync', 'fsyncSync'], calls.join(', '));
      assert.ok(calls.includes('write'), 'a chunk over 64 KiB is written in the pool');
      assert.deepEqual(recoverDir(dir).snapshot?.state, big);
    }));
});
