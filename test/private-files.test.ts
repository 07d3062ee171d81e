/** The safe file primitives (src/private-files.ts): directories checked top-down, files never through a link. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { CREATE, READ, UPDATE, ensurePrivateDir, isPrivateFile, openPrivate, readPrivate } from '../src/private-files.js';
import { refused, suiteRoots, withUmask } from './helpers.js';

const { chmodSync, chownSync, closeSync, fstatSync, linkSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } =
  nodeFs;
const mode = (p: string) => lstatSync(p).mode & 0o777;

describe('private files', () => {
  const root = suiteRoots();

  it('creates each directory below the base 0700 whatever the umask, and tightens one that others can read', async () => {
    const base = await root();
    const deepest = await withUmask(0, () => ensurePrivateDir(nodeFs, base, ['a', 'b', 'c']));
    assert.equal(deepest, join(base, 'a', 'b', 'c'));
    for (const p of ['a', 'a/b', 'a/b/c']) assert.equal(mode(join(base, p)), 0o700, p);
    chmodSync(join(base, 'a', 'b'), 0o755);
    ensurePrivateDir(nodeFs, base, ['a', 'b']);
    assert.equal(mode(join(base, 'a', 'b')), 0o700);
    // The umask narrowed it (0500): set back to exactly 0700, or nothing could be created in it.
    await withUmask(0o277, () => ensurePrivateDir(nodeFs, base, ['d']));
    assert.equal(mode(join(base, 'd')), 0o700);
  });

  it('refuses a link, a file, a directory others may write or one of another uid, naming it; creates nothing below', async () => {
    const base = await root();
    const elsewhere = join(base, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o755 });
    symlinkSync(elsewhere, join(base, 'link'));
    assert.throws(() => ensurePrivateDir(nodeFs, base, ['link', 'x']), refused(join(base, 'link'), /is a symbolic link/));
    assert.deepEqual(nodeFs.readdirSync(elsewhere), [], 'nothing made through the link');
    assert.equal(mode(elsewhere), 0o755, 'its target not chmodded');
    writeFileSync(join(base, 'file'), '');
    assert.throws(() => ensurePrivateDir(nodeFs, base, ['file']), refused(join(base, 'file'), /is not a directory/));
    mkdirSync(join(base, 'open'));
    chmodSync(join(base, 'open'), 0o777);
    assert.throws(
      () => ensurePrivateDir(nodeFs, base, ['open', 'x']),
      refused(join(base, 'open'), /writable by group or others \(mode 0777\)/),
    );
    assert.equal(mode(join(base, 'open')), 0o777, 'not "fixed": others may have put things there already');
    assert.ok(!nodeFs.existsSync(join(base, 'open', 'x')));
    mkdirSync(join(base, 'theirs'), { mode: 0o700 });
    chownSync(join(base, 'theirs'), 4321, 4321);
    assert.throws(
      () => ensurePrivateDir(nodeFs, base, ['theirs']),
      refused(join(base, 'theirs'), new RegExp(`owned by uid 4321, not ${process.getuid!()}`)),
    );
  });

  it('opens and reads without following a link at the path; other errors pass through', async () => {
    const dir = await root();
    const target = join(dir, 'target');
    writeFileSync(target, 'precious', { mode: 0o644 });
    symlinkSync(target, join(dir, 'link'));
    for (const flags of [READ, UPDATE])
      assert.throws(() => openPrivate(nodeFs, join(dir, 'link'), flags), refused(join(dir, 'link'), /is a symbolic link/));
    assert.throws(() => readPrivate(nodeFs, join(dir, 'link')), refused(join(dir, 'link'), /is a symbolic link/));
    assert.throws(
      () => readPrivate(nodeFs, join(dir, 'missing')),
      (e) => (e as NodeJS.ErrnoException).code === 'ENOENT',
    );
    assert.equal(readPrivate(nodeFs, target, 'utf8'), 'precious');
    // Exclusive creation never reuses a name: not a file, not a link (dangling or not).
    symlinkSync(join(dir, 'nothing-yet'), join(dir, 'dangling'));
    for (const name of ['target', 'link', 'dangling'])
      assert.throws(
        () => openPrivate(nodeFs, join(dir, name), CREATE),
        (e) => (e as NodeJS.ErrnoException).code === 'EEXIST',
        name,
      );
    assert.ok(!nodeFs.existsSync(join(dir, 'nothing-yet')));
    assert.equal(readFileSync(target, 'utf8'), 'precious');
  });

  it('creates files 0600 under umask 0, and tells which open files may be written in place', async () => {
    const dir = await root();
    const path = join(dir, 'new');
    const fd = await withUmask(0, () => openPrivate(nodeFs, path, CREATE));
    try {
      assert.equal(fstatSync(fd).mode & 0o777, 0o600);
      assert.equal(isPrivateFile(fstatSync(fd)), true);
      chmodSync(path, 0o644);
      assert.equal(isPrivateFile(fstatSync(fd)), false, 'readable by others');
      chmodSync(path, 0o600);
      linkSync(path, join(dir, 'second-name'));
      assert.equal(isPrivateFile(fstatSync(fd)), false, 'two links');
    } finally {
      closeSync(fd);
    }
    assert.equal(isPrivateFile(statSync(dir)), false, 'a directory');
    writeFileSync(join(dir, 'theirs'), '', { mode: 0o600 });
    chownSync(join(dir, 'theirs'), 4321, 4321);
    assert.equal(isPrivateFile(statSync(join(dir, 'theirs'))), false, 'another uid');
  });
});
