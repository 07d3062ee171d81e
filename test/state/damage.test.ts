import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, readdir, appendFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal, recoverDir, parseFrames, partName, snapshotName, type Entry } from '../../src/state/journal/index.js';
import { markDamaged, readDamage, repair } from '../../src/state/damage.js';
import { LeaseholdError, isLeaseholdError } from '../../src/errors.js';
import { withStateDir } from '../helpers.js';

const entry = (v: number, e: number): Entry => ({ t: 'm', v, e, id: null, m: { op: 'push', path: 'log', value: v } });
const ok = () => undefined;

const withDir = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withStateDir('leasehold-damage-', fn);

/** Two owners' segments (entries 1–5, then 6–7); entry 3 damaged in the middle of the first. */
async function damagedJournal(dir: string): Promise<{ first: string; second: string; offset: number; original: Buffer }> {
  const a = await Journal.open({ dir, epoch: 1, guard: ok });
  for (let v = 1; v <= 5; v++) await a.journal.appendEntry(entry(v, 1));
  await a.journal.close();
  const b = await Journal.open({ dir, epoch: 2, guard: ok });
  for (let v = 6; v <= 7; v++) await b.journal.appendEntry(entry(v, 2));
  await b.journal.close();
  const buf = await readFile(a.journal.path);
  const offset = parseFrames(buf).records[3]!.offset;
  buf[offset + 12] = buf[offset + 12]! ^ 0xff;
  await writeFile(a.journal.path, buf);
  return { first: a.journal.path, second: b.journal.path, offset, original: buf };
}

async function corruptError(dir: string): Promise<LeaseholdError> {
  try {
    recoverDir(dir);
  } catch (err) {
    if (isLeaseholdError(err, 'ECORRUPT')) return err;
    throw err;
  }
  throw new Error('recovery succeeded');
}

describe('damage', () => {
  it('the marker is in force while the damaged file is as it was found; a stale or unreadable marker is ignored', () =>
    withDir(async (dir) => {
      const { first, offset } = await damagedJournal(dir);
      const err = await corruptError(dir);
      assert.equal(readDamage(dir), undefined, 'no marker yet');
      const d = markDamaged(dir, err, { epoch: 3, instanceId: 'x' });
      assert.deepEqual(readDamage(dir), d);
      assert.equal(d.path, first);
      assert.equal(d.offset, offset);
      await appendFile(first, Buffer.from([1])); // the file changed: repaired, or written since
      assert.equal(readDamage(dir), undefined);
      markDamaged(dir, await corruptError(dir), { epoch: 4, instanceId: 'y' });
      assert.equal(readDamage(dir)?.epoch, 4);
      await writeFile(join(dir, 'damaged.json'), '{"path": 3');
      assert.equal(readDamage(dir), undefined);
    }));

  it('repair cuts a segment at the damage (original kept aside), moves later segments aside and clears the marker', () =>
    withDir(async (dir) => {
      const { first, second, offset, original } = await damagedJournal(dir);
      markDamaged(dir, await corruptError(dir), { epoch: 3, instanceId: 'x' });
      const secondBytes = await readFile(second);
      const result = await repair(dir);
      assert.deepEqual(
        result.steps.map((s) => [s.action, s.path, s.offset]),
        [
          ['cut', first, offset],
          ['moved', second, 0],
        ],
      );
      assert.equal(result.version, 2);
      assert.equal(result.markerRemoved, true);
      assert.deepEqual(await readFile(result.steps[0]!.aside), original, 'the damaged segment kept as it was');
      assert.match(result.steps[0]!.aside, /journal-000000000000001-000000\.log\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/);
      assert.deepEqual(await readFile(result.steps[1]!.aside), secondBytes);
      assert.deepEqual(await readFile(first), original.subarray(0, offset));
      assert.deepEqual(
        recoverDir(dir).entries.map((e) => e.v),
        [1, 2],
      );
      assert.equal(readDamage(dir), undefined);
      // A new owner starts on the good prefix.
      const c = await Journal.open({ dir, epoch: 5, guard: ok });
      assert.deepEqual(
        c.recovered.entries.map((e) => e.v),
        [1, 2],
      );
      await c.journal.close();
      assert.deepEqual((await repair(dir)).steps, [], 'nothing left to repair');
    }));

  it('repair moves a damaged snapshot aside, then sets aside the parts that follow what it covered', () =>
    withDir(async (dir) => {
      const a = await Journal.open({ dir, epoch: 1, guard: ok });
      for (let v = 1; v <= 3; v++) await a.journal.appendEntry(entry(v, 1));
      await a.journal.compact({ version: 3, epoch: 1, stateVersion: 0, state: { log: [1, 2, 3] }, dedup: {} });
      await a.journal.appendEntry(entry(4, 1)); // into a new part; the one the snapshot covers is deleted
      await a.journal.close();
      const path = join(dir, snapshotName(3));
      const part = join(dir, partName(1, 1));
      const buf = await readFile(path);
      buf[buf.length - 2] = buf[buf.length - 2]! ^ 0x55;
      await writeFile(path, buf);
      const result = await repair(dir);
      // Without the snapshot, version 4 follows nothing: that part is cut at 0, its original kept aside.
      assert.deepEqual(
        result.steps.map((s) => [s.action, s.path, s.offset]),
        [
          ['moved', path, 0],
          ['cut', part, 0],
        ],
      );
      assert.equal(result.version, 0);
      assert.equal(result.markerRemoved, false);
      assert.ok((await readdir(dir)).some((n) => n.startsWith(`${snapshotName(3)}.corrupt-`)));
      assert.equal(parseFrames(await readFile(result.steps[1]!.aside)).records.length, 2, 'the part kept aside, begin and entry 4');
      assert.equal(recoverDir(dir).version, 0);
    }));

  it('moving the damaged file aside by hand ends the damage too', () =>
    withDir(async (dir) => {
      const { first } = await damagedJournal(dir);
      const d = markDamaged(dir, await corruptError(dir), { epoch: 3, instanceId: 'x' });
      assert.ok(readDamage(dir));
      await rename(first, `${first}.aside`);
      assert.equal(readDamage(dir), undefined);
      assert.equal(d.path, first);
    }));
});
