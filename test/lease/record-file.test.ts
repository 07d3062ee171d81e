import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { chmod, link, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RECORD_BLOCK, readRecordFile, writeRecordFile } from '../../src/lease/record-file.js';
import type { LeaseRecord } from '../../src/lease/record.js';
import { serializeRecord } from '../../src/lease/record.js';
import { suiteRoots } from '../helpers.js';

const record = (epoch: number, meta: Record<string, unknown> = {}): LeaseRecord => ({
  format: 1,
  key: '/app/files/owner',
  instanceId: 'A',
  epoch,
  pid: process.pid,
  processStart: null,
  host: 'h',
  acquiredAt: 1,
  renewedAt: 1,
  renewals: 0,
  ttlMs: 1000,
  renewIntervalMs: 300,
  releasedAt: null,
  pins: [],
  meta,
});

describe('the lease record file', () => {
  const root = suiteRoots();

  it('reads nothing where there is no file', async () => {
    assert.deepEqual(readRecordFile(nodeFs, join(await root(), 'record.json')), { text: undefined });
  });

  it('writes one padded block, then rewrites the same file in place', async () => {
    const path = join(await root(), 'record.json');
    writeRecordFile(nodeFs, path, record(1), false);
    const first = await stat(path);
    assert.equal(first.size, RECORD_BLOCK);
    assert.equal(first.mode & 0o777, 0o600);
    writeRecordFile(nodeFs, path, record(2), true);
    const second = await stat(path);
    assert.equal(second.ino, first.ino, 'rewritten in place, not replaced');
    assert.equal(readRecordFile(nodeFs, path).record?.epoch, 2);
  });

  it('replaces by rename a record larger than a block, one others may read, or one with a second link', async () => {
    const dir = await root();
    const path = join(dir, 'record.json');
    writeRecordFile(nodeFs, path, record(1, { big: 'x'.repeat(RECORD_BLOCK) }), false);
    assert.ok((await stat(path)).size > RECORD_BLOCK);
    assert.equal(readRecordFile(nodeFs, path).record?.meta.big, 'x'.repeat(RECORD_BLOCK));
    writeRecordFile(nodeFs, path, record(2), false);
    await chmod(path, 0o644);
    let before = (await stat(path)).ino;
    writeRecordFile(nodeFs, path, record(3), false);
    assert.notEqual((await stat(path)).ino, before);
    await link(path, join(dir, 'second-link'));
    before = (await stat(path)).ino;
    writeRecordFile(nodeFs, path, record(4), false);
    assert.notEqual((await stat(path)).ino, before);
    assert.equal(JSON.parse(await readFile(join(dir, 'second-link'), 'utf8')).epoch, 3, 'the other link is left alone');
  });

  it('reads a block that does not parse three times in all, and only a block', async () => {
    const dir = await root();
    const path = join(dir, 'record.json');
    const good = Buffer.alloc(RECORD_BLOCK, ' ');
    good.write(serializeRecord(record(5)));
    const torn = Buffer.alloc(RECORD_BLOCK, ' ');
    torn.write('{"format":1,"ke');
    await writeFile(path, torn, { mode: 0o600 });
    // Reads see the torn block twice, then the finished one.
    let reads = 0;
    const racing = {
      ...nodeFs,
      readFileSync: ((...args: Parameters<typeof nodeFs.readFileSync>) => {
        if (++reads === 3) nodeFs.writeFileSync(path, good);
        return nodeFs.readFileSync(...args);
      }) as typeof nodeFs.readFileSync,
    };
    assert.equal(readRecordFile(racing, path).record?.epoch, 5);
    assert.equal(reads, 3);
    await writeFile(path, torn);
    reads = 0;
    const always = {
      ...racing,
      readFileSync: ((...a: Parameters<typeof nodeFs.readFileSync>) => (reads++, nodeFs.readFileSync(...a))) as typeof nodeFs.readFileSync,
    };
    const damaged = readRecordFile(always, path);
    assert.equal(damaged.record, undefined);
    assert.equal(reads, 3);
    assert.equal('error' in damaged ? damaged.error.code : undefined, 'ECORRUPT');
    // Text of another size cannot be a write in progress: one read.
    await writeFile(path, '{"format":1,"ke');
    reads = 0;
    assert.equal(readRecordFile(always, path).record, undefined);
    assert.equal(reads, 1);
  });
});
