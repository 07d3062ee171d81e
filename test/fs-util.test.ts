/** The shared file mechanics (src/fs-util.ts), on the real disk and through injected faults. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { createFile, padNumber, replaceFile, syncDirectory, tempPathFor, writeAll } from '../src/fs-util.js';
import { LeaseholdError } from '../src/errors.js';
import { suiteRoots } from './helpers.js';

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

describe('fs-util', () => {
  const root = suiteRoots();

  it('pads numbers so that names sort as numbers do; temp names sit beside the target and differ', () => {
    assert.equal(padNumber(42, 6), '000042');
    assert.equal(padNumber(1234567, 3), '1234567');
    const a = tempPathFor('/d/record.json');
    assert.match(a, /^\/d\/record\.json\.[0-9a-f]{12}\.tmp$/);
    assert.notEqual(a, tempPathFor('/d/record.json'));
  });

  it('writeAll keeps writing after short writes, at the position given', async () => {
    const path = join(await root(), 'f');
    nodeFs.writeFileSync(path, 'xxxxxxxxxx');
    const calls: number[] = [];
    // A file system that writes at most 3 bytes per call.
    const fs = {
      writeSync: ((fd: number, buf: Buffer, off: number, len: number, pos: number) => {
        calls.push(len);
        return nodeFs.writeSync(fd, buf, off, Math.min(3, len), pos);
      }) as typeof nodeFs.writeSync,
    };
    const fd = nodeFs.openSync(path, 'r+');
    try {
      writeAll(fs, fd, Buffer.from('abcdefg'), 2);
    } finally {
      nodeFs.closeSync(fd);
    }
    assert.equal(nodeFs.readFileSync(path, 'utf8'), 'xxabcdefgx');
    assert.deepEqual(calls, [7, 4, 1]);
  });

  it('createFile makes a new 0600 file with the whole content, flushed when durable; EEXIST when taken', async () => {
    const dir = await root();
    let syncs = 0;
    const fs = { ...nodeFs, fdatasyncSync: (fd: number) => (syncs++, nodeFs.fdatasyncSync(fd)) };
    createFile(fs, join(dir, 'a'), 'hello', false);
    assert.equal(syncs, 0);
    createFile(fs, join(dir, 'b'), Buffer.from('world'), true);
    assert.equal(syncs, 1);
    assert.equal(nodeFs.readFileSync(join(dir, 'a'), 'utf8'), 'hello');
    assert.equal(nodeFs.readFileSync(join(dir, 'b'), 'utf8'), 'world');
    if (process.platform !== 'win32') assert.equal(nodeFs.statSync(join(dir, 'a')).mode & 0o777, 0o600);
    assert.throws(
      () => createFile(fs, join(dir, 'a'), 'again', false),
      (e) => code(e) === 'EEXIST',
    );
    assert.equal(nodeFs.readFileSync(join(dir, 'a'), 'utf8'), 'hello');
  });

  it('createFile closes the file when a write fails', async () => {
    const dir = await root();
    const open = new Set<number>();
    const fs = {
      ...nodeFs,
      openSync: ((...a: Parameters<typeof nodeFs.openSync>) => {
        const fd = nodeFs.openSync(...a);
        open.add(fd);
        return fd;
      }) as typeof nodeFs.openSync,
      closeSync: (fd: number) => (open.delete(fd), nodeFs.closeSync(fd)),
      writeSync: (() => {
        throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
      }) as typeof nodeFs.writeSync,
    };
    assert.throws(
      () => createFile(fs, join(dir, 'a'), 'hello', false),
      (e) => code(e) === 'ENOSPC',
    );
    assert.equal(open.size, 0);
  });

  it('replaceFile swaps the content by rename, durable on request, and leaves no temp file', async () => {
    const dir = await root();
    const path = join(dir, 'record.json');
    nodeFs.writeFileSync(path, 'old');
    const ino = nodeFs.statSync(path).ino;
    let syncs = 0;
    const fs = { ...nodeFs, fdatasyncSync: (fd: number) => (syncs++, nodeFs.fdatasyncSync(fd)) };
    replaceFile(fs, path, 'new', { durable: true });
    assert.equal(nodeFs.readFileSync(path, 'utf8'), 'new');
    assert.notEqual(nodeFs.statSync(path).ino, ino, 'a new file, not the old one rewritten');
    assert.equal(syncs, 1);
    assert.deepEqual(nodeFs.readdirSync(dir), ['record.json']);
  });

  it('replaceFile keeps the old content and removes its temp file when the rename fails, as EIO naming the target', async () => {
    const dir = await root();
    const path = join(dir, 'claim');
    nodeFs.writeFileSync(path, 'old');
    const fs = {
      ...nodeFs,
      renameSync: () => {
        throw Object.assign(new Error('EXDEV'), { code: 'EXDEV' });
      },
    };
    assert.throws(
      () => replaceFile(fs, path, 'new', { what: 'rewrite' }),
      (e) => e instanceof LeaseholdError && e.code === 'EIO' && e.path === path && /cannot rewrite .*claim: EXDEV/.test(e.message),
    );
    assert.equal(nodeFs.readFileSync(path, 'utf8'), 'old');
    assert.deepEqual(nodeFs.readdirSync(dir), ['claim']);
  });

  it('syncDirectory fsyncs a descriptor of the directory and closes it', async () => {
    const dir = await root();
    const synced: number[] = [];
    const closed: number[] = [];
    const fs = {
      ...nodeFs,
      fsyncSync: (fd: number) => (synced.push(fd), nodeFs.fsyncSync(fd)),
      closeSync: (fd: number) => (closed.push(fd), nodeFs.closeSync(fd)),
    };
    syncDirectory(fs, dir);
    assert.equal(synced.length, 1);
    assert.deepEqual(closed, synced);
  });
});
