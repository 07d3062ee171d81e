/**
 * A development launch is named as the packaged app: Electron takes the name (and so the userData folder)
 * from the package.json of the folder it is launched with, and the packaged app from the root package.json.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempRoot } from '../helpers.js';
// @ts-expect-error: a plain JS helper shared with the npm scripts
import * as devApp from '../../../scripts/dev-app.js';

const { prepareDevApp, DEV_APP_DIR } = devApp as { prepareDevApp(root: string, extra?: string[]): string[]; DEV_APP_DIR: string };
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

it('launches out/app with the package name, product name, version and module type of the root', async () => {
  const root = await tempRoot();
  try {
    writeFileSync(join(root.dir, 'package.json'), JSON.stringify(rootManifest));
    mkdirSync(join(root.dir, DEV_APP_DIR), { recursive: true });
    const args = prepareDevApp(root.dir, ['--flag']);
    assert.deepEqual(args, [join(root.dir, 'out', 'app'), '--flag']);
    const written = JSON.parse(readFileSync(join(args[0]!, 'package.json'), 'utf8'));
    assert.equal(written.productName, 'leasehold example');
    assert.equal(written.name, rootManifest.name);
    assert.equal(written.version, rootManifest.version);
    assert.equal(written.type, 'module', 'main.js is an ES module');
    assert.equal(written.main, 'main.js');
  } finally {
    await root.remove();
  }
});

it('names the packaged app from the same productName (electron-builder.yml does not override it)', () => {
  const yml = readFileSync(join(ROOT, 'electron-builder.yml'), 'utf8');
  assert.doesNotMatch(yml, /^\s*(productName|name):/m);
  assert.match(yml, /^extraMetadata:\n\s+main: out\/app\/main\.js$/m, 'the packaged app runs the same main');
});
