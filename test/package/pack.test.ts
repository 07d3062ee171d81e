/**
 * The npm package as a user gets it: `npm pack` on a fresh checkout (the repository's files, nothing built:
 * prepack must build), the tarball installed into a new project from the registry's dependencies, then
 * join() from an ES module and from CommonJS, a TypeScript consumer with "module": "nodenext", and the
 * `leasehold` command.
 *
 * Needs npm, git and the npm registry (for ws and proper-lockfile); skipped, saying so, without npm or git.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempRoot } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** npm pack runs the library's build; npm install fetches the dependencies: minutes on a slow registry. */
const PACK_TEST_TIMEOUT_MS = 300_000;
const COMMAND_TIMEOUT_MS = 180_000;

/** npm and npx are .cmd scripts on Windows, which only a shell runs. */
function run(cmd: string, args: string[], options: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: COMMAND_TIMEOUT_MS,
    shell: process.platform === 'win32' && cmd !== process.execPath,
    ...options,
  });
  const out = `${cmd} ${args.join(' ')}: status ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`;
  return { status: r.status, stdout: String(r.stdout ?? ''), out };
}

const npmMissing = run('npm', ['--version']).status !== 0 ? 'npm is not available' : undefined;
const checkout = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT });
const notGit = checkout.status !== 0 ? 'the package is not a git checkout' : undefined;
const skip = npmMissing ?? notGit;
if (skip) console.log(`# package tests skipped: ${skip}`);

/** The repository's files as a clone has them (tracked, and new files not ignored), without node_modules. */
function copyCheckout(to: string): void {
  for (const file of checkout.stdout.split('\0')) {
    if (file === '' || file === 'node_modules' || file.startsWith('node_modules/')) continue;
    if (!existsSync(join(ROOT, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(to, file));
  }
  // The build's tools (tsc, esbuild), as npm install would put them there.
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'), 'junction');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

const ESM = `import { join } from 'leasehold';
const instance = join({ dataRoot: process.argv[2], app: 'pack' });
await instance.whenOwner();
console.log('esm', instance.role);
await instance.close();
`;
const CJS = `const { join } = require('leasehold');
const instance = join({ dataRoot: process.argv[2], app: 'pack' });
instance.whenOwner().then(async () => {
  console.log('cjs', instance.role);
  await instance.close();
});
`;
const TS_ESM = `import { join, LeaseholdError, type Instance, type Role } from 'leasehold';
import * as testing from 'leasehold/testing';
const instance: Instance = join({ dataRoot: '/tmp/x', app: 'pack' });
const role: Role = instance.role;
const error: LeaseholdError | undefined = undefined;
export { role, error, testing };
`;
const TS_CJS = `import leasehold = require('leasehold');
const instance: leasehold.Instance = leasehold.join({ dataRoot: '/tmp/x', app: 'pack' });
export const role: leasehold.Role = instance.role;
`;
const TSCONFIG = {
  compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
  files: ['index.ts', 'require.cts'],
};

describe('the npm package', { skip }, () => {
  it(
    'npm pack on a fresh checkout yields a package that works from ESM, CommonJS, TypeScript and its bin',
    { timeout: PACK_TEST_TIMEOUT_MS },
    async () => {
      const tmp = await tempRoot('leasehold-pack-');
      try {
        const src = join(tmp.dir, 'checkout');
        copyCheckout(src);
        const packed = run('npm', ['pack', '--json', '--pack-destination', tmp.dir], { cwd: src });
        assert.equal(packed.status, 0, packed.out);
        // prepack's own output comes first on stdout; the report is the JSON array after it.
        const report = JSON.parse(packed.stdout.slice(packed.stdout.lastIndexOf('\n[') + 1)) as [
          { filename: string; files: { path: string }[] },
        ];
        const files = report[0].files.map((f) => f.path);
        for (const needed of [
          'LICENSE',
          'README.md',
          'out/src/index.js',
          'out/src/index.d.ts',
          'out/cli.cjs',
          'bin/leasehold.cjs',
          'out/src/electron/preload.cjs',
        ])
          assert.ok(files.includes(needed), `${needed} is in the package`);
        assert.deepEqual(
          files.filter((f) => f.endsWith('.cache')),
          [],
          'no V8 code cache (valid for one node only)',
        );
        assert.deepEqual(
          files.filter((f) => /^(test|app|bench|scripts|out\/test|out\/app)\//.test(f)),
          [],
          'no tests, app or scripts',
        );

        const consumer = join(tmp.dir, 'consumer');
        mkdirSync(consumer);
        writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
        const typesNode = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies['@types/node'];
        const install = run(
          'npm',
          ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp.dir, report[0].filename), `@types/node@${typesNode}`],
          {
            cwd: consumer,
          },
        );
        assert.equal(install.status, 0, install.out);

        // Every source map points at sources the package ships.
        const installed = join(consumer, 'node_modules', 'leasehold');
        const maps = filesUnder(installed).filter((f) => f.endsWith('.map'));
        assert.ok(maps.length > 0, 'source maps are shipped');
        for (const map of maps)
          for (const source of JSON.parse(readFileSync(map, 'utf8')).sources as string[])
            assert.ok(existsSync(resolve(dirname(map), source)), `${relative(installed, map)} points at ${source}, which is shipped`);

        writeFileSync(join(consumer, 'esm.mjs'), ESM);
        writeFileSync(join(consumer, 'cjs.cjs'), CJS);
        const esm = run(process.execPath, ['esm.mjs', join(tmp.dir, 'root-esm')], { cwd: consumer });
        assert.equal(esm.status, 0, esm.out);
        assert.match(esm.stdout, /^esm owner$/m);
        const cjs = run(process.execPath, ['cjs.cjs', join(tmp.dir, 'root-cjs')], { cwd: consumer });
        assert.equal(cjs.status, 0, cjs.out);
        assert.match(cjs.stdout, /^cjs owner$/m);

        writeFileSync(join(consumer, 'index.ts'), TS_ESM);
        writeFileSync(join(consumer, 'require.cts'), TS_CJS);
        writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(TSCONFIG));
        const tsc = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
          cwd: consumer,
        });
        assert.equal(tsc.status, 0, tsc.out);

        const bin = run('npm', ['exec', '--no', '--', 'leasehold', '--help'], { cwd: consumer });
        assert.equal(bin.status, 0, bin.out);
        assert.match(bin.stdout, /leasehold status/);
      } finally {
        await tmp.remove();
      }
    },
  );
});
