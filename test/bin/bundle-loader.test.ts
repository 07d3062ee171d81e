/**
 * The command's bundle loader (bin/bundle-loader.cjs): the code cache made at build time is accepted by the
 * node that made it; a cache V8 refuses (damaged, or for another bundle) is only slower, never an error.
 * Each load runs in a fresh process: within one, V8 reuses what it compiled and ignores a cache.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { outPath } from '../integration/proc.js';
import { tempRoot } from '../helpers.js';

const repo = outPath('../../..');
const BUNDLE = join(repo, 'out/cli.cjs');
const LOADER = pathToFileURL(join(repo, 'bin/bundle-loader.cjs')).href;
const cacheOf = (file: string) => `${file}.cache`;

/** Loads `file` in a new node process: whether V8 refused its cache, and whether it exported main(). */
function load(file: string): { cacheRejected: boolean | null; main: string } {
  const script = `
    import { compileBundle } from ${JSON.stringify(LOADER)};
    const c = compileBundle(${JSON.stringify(file)});
    process.stdout.write(JSON.stringify({ cacheRejected: c.cacheRejected ?? null, main: typeof c.run().main }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('bundle loader', () => {
  const roots: { remove(): Promise<void> }[] = [];
  after(async () => Promise.all(roots.map((r) => r.remove())));

  it('the built code cache is accepted, and the bundle runs with it', () => {
    assert.ok(existsSync(cacheOf(BUNDLE)), 'npm run build writes out/cli.cjs.cache');
    assert.deepEqual(load(BUNDLE), { cacheRejected: false, main: 'function' });
  });

  it('a damaged or foreign cache is refused by V8 and the bundle still runs; writeCodeCache makes a good one', async () => {
    const root = await tempRoot();
    roots.push(root);
    const copy = join(root.dir, 'cli.cjs');
    copyFileSync(BUNDLE, copy);
    assert.deepEqual(load(copy), { cacheRejected: null, main: 'function' }, 'no cache');
    writeFileSync(cacheOf(copy), Buffer.alloc(4096, 7));
    assert.deepEqual(load(copy), { cacheRejected: true, main: 'function' }, 'garbage');
    // Another bundle's cache: this one with a comment in front has another source hash.
    writeFileSync(copy, '// another build\n' + readFileSync(BUNDLE, 'utf8'));
    copyFileSync(cacheOf(BUNDLE), cacheOf(copy));
    assert.deepEqual(load(copy), { cacheRejected: true, main: 'function' }, "another bundle's cache");
    // Made for it, in a process of its own (it changes V8 flags).
    const r = spawnSync(process.execPath, [join(repo, 'scripts/code-cache.js'), copy], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(load(copy), { cacheRejected: false, main: 'function' }, 'its own cache');
  });
});
