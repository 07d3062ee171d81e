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

it('protocol.ts and the codec stay free of ws and Node APIs', () => {
  const pure = files.filter(
    (f) => relative(src, f) === join('transport', 'protocol.ts') || relative(src, f).startsWith(join('transport', 'codec')),
  );
  assert.equal(pure.length, 4);
  for (const f of pure) assert.doesNotMatch(readFileSync(f, 'utf8'), /from ['"](ws|node:[a-z/]+)['"]/, relative(src, f));
});

it('frames are built and parsed by the codec only (transport/codec/)', () => {
  const types =
    'hello|standby|sync|mutates?|welcome|presence|standby-request|successor|leaving|snapshot-part|snapshot-end|changes|acks|nack|synced|batch';
  const framed = new RegExp(`\\{\\s*\\\\?["']?t\\\\?["']?\\s*:\\s*\\\\?["'](${types})\\\\?["']`);
  for (const f of files) {
    const rel = relative(src, f);
    if (rel.startsWith(join('transport', 'codec'))) continue;
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    // A frame's JSON by hand (`{"t":"acks",…`) or JSON.stringify of a message: the codec's encoders do that.
    for (const line of text.split('\n')) if (/`|JSON\.stringify/.test(line)) assert.doesNotMatch(line, framed, rel);
    assert.doesNotMatch(text, /\bt\s*:\s*string\s*;\s*\[k: string\]: unknown/, `${rel}: an untyped message`);
  }
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
