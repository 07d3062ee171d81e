// Bundles the `leasehold` command into one CommonJS file (out/cli.cjs): loading one file instead of ~40
// ES modules saves about 30 ms of start-up, which is most of what the command adds to a bare `node` start.
// The library itself (the package's exports) stays unbundled ESM.
// Then its V8 code cache (bin/bundle-loader.cjs): nothing of the command is compiled when it runs.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

await build({
  entryPoints: ['out/src/cli/main.js'],
  outfile: 'out/cli.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  // Whitespace and comments out, strings in ASCII: a source with one non-ASCII character (a comment's
  // "→") is a two-byte string to V8, twice the memory to decode and hash before the code cache is used.
  // 552 KB → 355 KB, and compiling it with its cache 39–51 → 26–30 ms of every start. Names are kept:
  // stack traces still read.
  minifyWhitespace: true,
  charset: 'ascii',
  // ESM's import.meta.url, as the bundle's own file URL (cjs.ts resolves ws and proper-lockfile from it).
  define: { 'import.meta.url': '__leaseholdFileUrl' },
  banner: { js: "const __leaseholdFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  // ws and proper-lockfile go into the bundle too, so that the code cache covers them (cjs.ts loads them
  // with a require that esbuild cannot follow; here it is a plain one). ws's optional native helpers stay
  // outside: ws requires them in a try and does without.
  // etcd3 (an optional peer dependency, loaded only by `--etcd`) stays outside, with its gRPC stack.
  external: ['bufferutil', 'utf-8-validate', 'etcd3'],
  plugins: [
    {
      // ws requires https and tls for wss:// URLs, which leasehold never uses (an owner serves ws:// on
      // 127.0.0.1 or on a Unix socket): loading them is ≈ 3 ms of every start. A stub throws if used.
      name: 'no-tls',
      setup(b) {
        b.onResolve({ filter: /^(https|tls)$/ }, (args) =>
          /[\\/]node_modules[\\/]ws[\\/]/.test(args.importer) ? { path: args.path, namespace: 'no-tls' } : undefined,
        );
        b.onLoad({ filter: /.*/, namespace: 'no-tls' }, (args) => ({
          contents: `module.exports = new Proxy({}, { get() { throw new Error('leasehold: ${args.path} is not part of the command (owners serve ws:// on loopback or a Unix socket)'); } });`,
          loader: 'js',
        }));
      },
    },
    {
      name: 'bundle-cjs-dependencies',
      setup(b) {
        b.onLoad({ filter: /[\\/]out[\\/]src[\\/]cjs\.js$/ }, () => ({
          contents: "export const ws = require('ws');\nexport const lockfile = require('proper-lockfile');\n",
          loader: 'js',
          resolveDir: process.cwd(),
        }));
      },
    },
  ],
});

// Its V8 code cache, made by the node that will run it (see bin/bundle-loader.cjs).
execFileSync(process.execPath, ['scripts/code-cache.js', 'out/cli.cjs'], { stdio: 'inherit' });
