// Bundles the `leasehold` command into one CommonJS file (out/cli.cjs): loading one file instead of ~40
// ES modules saves about 30 ms of start-up, which is most of what the command adds to a bare `node` start.
// The library itself (the package's exports) stays unbundled ESM.
import { build } from 'esbuild';

await build({
  entryPoints: ['out/src/cli/main.js'],
  outfile: 'out/cli.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  // ESM's import.meta.url, as the bundle's own file URL (cjs.ts resolves ws and proper-lockfile from it).
  define: { 'import.meta.url': '__leaseholdFileUrl' },
  banner: { js: "const __leaseholdFileUrl = require('node:url').pathToFileURL(__filename).href;" },
});
