/**
 * Rules about the source itself (as proper-lockfile's test keeps fs injected): real time only in
 * clock.ts, electron only under src/electron, ws only in the transport's socket modules.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src', import.meta.url));
const files: string[] = [];
const walk = (d: string) => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.ts')) files.push(p);
  }
};
walk(src);

it('only clock.ts touches real time', () => {
  assert.ok(files.length > 20);
  for (const f of files) {
    const rel = relative(src, f);
    if (rel === 'clock.ts') continue;
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    assert.doesNotMatch(text, /(?<![.#\w])(setTimeout|setInterval|setImmediate)\(|Date\.now\(|performance\.now\(/, rel);
  }
});

it('protocol.ts stays free of ws and Node APIs', () => {
  const text = readFileSync(join(src, 'transport', 'protocol.ts'), 'utf8');
  assert.doesNotMatch(text, /from ['"](ws|node:[a-z/]+)['"]/);
});

it('only src/electron imports electron', () => {
  for (const f of files) {
    const rel = relative(src, f);
    if (rel.startsWith('electron')) continue;
    assert.doesNotMatch(readFileSync(f, 'utf8'), /from ['"]electron['"]/, rel);
  }
});

it('the lease store and the file helpers call node:fs only through the injected fs', () => {
  // process-identity.ts reads /proc (facts about processes, not files under the data root).
  const injected = files.filter((f) => {
    const rel = relative(src, f);
    return (rel.startsWith('lease') && !rel.endsWith('process-identity.ts')) || rel === 'private-files.ts' || rel === 'fs-util.ts';
  });
  assert.ok(injected.length >= 10);
  for (const f of injected) {
    const rel = relative(src, f);
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    // Constants and types only; the default `options.fs ?? nodeFs` passes the module, it calls nothing.
    assert.doesNotMatch(text, /\bnodeFs\.(?!constants\b|Stats\b)\w+/, rel);
    assert.doesNotMatch(text, /import\s*\{[^}]*\}\s*from\s*['"]node:fs(\/promises)?['"]/, rel);
    assert.doesNotMatch(text, /from\s*['"]fs['"]/, rel);
  }
});
