/**
 * ensureElectron(): an existing binary is used as it is; without one Electron's installer runs, and its
 * outcome decides. The installer is replaced by node scripts that do what the real one does on success
 * (write the binary), on a failed download (print the error's stack, exit 1) and when it hangs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempRoot } from '../helpers.js';
// @ts-expect-error: a plain JS helper shared with the npm scripts
import * as binary from '../../../scripts/electron-binary.js';

type Found = { path: string; dist: string } | { why: string };
type Installer = [string, string[]];
const { ensureElectron, electronInstaller, lastMeaningfulLine } = binary as {
  ensureElectron(o: {
    timeoutMs?: number;
    installer?: Installer;
    find?: () => Found;
    log?: (line: string) => void;
    stderr?: { write(chunk: Buffer | string): unknown };
  }): Promise<Found>;
  electronInstaller(): Installer | undefined;
  lastMeaningfulLine(text: string): string | undefined;
};

/** A node script as the installer, with the real installer's preload (its error causes). */
function nodeInstaller(script: string, ...args: string[]): Installer {
  const real = electronInstaller();
  assert.ok(real, 'the electron package is installed');
  const [, realArgs] = real;
  return [process.execPath, [...realArgs.slice(0, 2), '-e', script, ...args]];
}

async function fixture() {
  const root = await tempRoot();
  const path = join(root.dir, 'electron');
  const find = (): Found => (existsSync(path) ? { path, dist: root.dir } : { why: `no Electron binary at ${path}` });
  const lines: string[] = [];
  let shown = '';
  const io = { log: (line: string) => lines.push(line), stderr: { write: (c: Buffer | string) => (shown += String(c)) } };
  return { root, path, find, lines, shown: () => shown, io };
}

describe('ensureElectron', () => {
  // The machine's own settings would change the outcomes under test (the last test sets one itself).
  const inherited = ['ELECTRON_OVERRIDE_DIST_PATH', 'ELECTRON_SKIP_BINARY_DOWNLOAD'].map((k) => [k, process.env[k]] as const);
  before(() => inherited.forEach(([k]) => delete process.env[k]));
  after(() => inherited.forEach(([k, v]) => v !== undefined && (process.env[k] = v)));

  it('uses a binary that is there without running the installer', async () => {
    const f = await fixture();
    try {
      writeFileSync(f.path, '');
      const installer = nodeInstaller("require('fs').writeFileSync(process.argv[1], 'ran')", join(f.root.dir, 'ran'));
      assert.deepEqual(await ensureElectron({ find: f.find, installer, ...f.io }), { path: f.path, dist: f.root.dir });
      assert.equal(existsSync(join(f.root.dir, 'ran')), false, 'the installer did not run');
      assert.deepEqual(f.lines, []);
    } finally {
      await f.root.remove();
    }
  });

  it('runs the installer when there is no binary and uses what it installed', async () => {
    const f = await fixture();
    try {
      const installer = nodeInstaller("console.error('downloading'); require('fs').writeFileSync(process.argv[1], '')", f.path);
      assert.deepEqual(await ensureElectron({ find: f.find, installer, ...f.io }), { path: f.path, dist: f.root.dir });
      assert.match(f.lines.join('\n'), /no Electron binary at .*: running Electron's installer \(at most \d+ s\)/);
      assert.match(f.shown(), /downloading/, "the installer's output is shown");
    } finally {
      await f.root.remove();
    }
  });

  it("names the download's real cause in one sentence when the installer fails", async () => {
    const f = await fixture();
    try {
      // What install.js does with a failed download: console.error(err.stack); process.exit(1).
      const script =
        "const e = new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND github.com') });" +
        'console.error(e.stack); process.exit(1)';
      const r = await ensureElectron({ find: f.find, installer: nodeInstaller(script), ...f.io });
      assert.deepEqual(r, {
        why: "Electron's installer failed: TypeError: fetch failed (caused by Error: getaddrinfo ENOTFOUND github.com)",
      });
      assert.match(f.shown(), /^\s+at /m, 'the full stack is shown as the installer printed it');
    } finally {
      await f.root.remove();
    }
  });

  it('stops an installer that does not finish in time, and says so', async () => {
    const f = await fixture();
    try {
      const installer = nodeInstaller('setInterval(() => {}, 1000)');
      const r = await ensureElectron({ find: f.find, installer, timeoutMs: 300, ...f.io });
      assert.deepEqual(r, { why: "Electron's installer did not finish within 1 s" });
    } finally {
      await f.root.remove();
    }
  });

  it('says so when the installer succeeds without leaving a binary', async () => {
    const f = await fixture();
    try {
      const r = await ensureElectron({ find: f.find, installer: nodeInstaller('process.exit(0)'), ...f.io });
      assert.deepEqual(r, { why: `Electron's installer finished, but there is still no Electron binary at ${f.path}` });
    } finally {
      await f.root.remove();
    }
  });

  it('does not fetch another binary when ELECTRON_OVERRIDE_DIST_PATH names a missing one', async () => {
    const f = await fixture();
    const saved = process.env.ELECTRON_OVERRIDE_DIST_PATH;
    process.env.ELECTRON_OVERRIDE_DIST_PATH = f.root.dir;
    try {
      const installer = nodeInstaller("require('fs').writeFileSync(process.argv[1], '')", f.path);
      assert.deepEqual(await ensureElectron({ find: f.find, installer, ...f.io }), { why: `no Electron binary at ${f.path}` });
      assert.equal(existsSync(f.path), false, 'the installer did not run');
    } finally {
      if (saved === undefined) delete process.env.ELECTRON_OVERRIDE_DIST_PATH;
      else process.env.ELECTRON_OVERRIDE_DIST_PATH = saved;
      await f.root.remove();
    }
  });
});

describe('lastMeaningfulLine', () => {
  it('skips stack frames and blank lines', () => {
    assert.equal(lastMeaningfulLine('HTTPError: Response code 404\n    at a (b.js:1:1)\n\n'), 'HTTPError: Response code 404');
    assert.equal(lastMeaningfulLine('\n  \n'), undefined);
  });
});
