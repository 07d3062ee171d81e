// Bundles the example app's window (out/app/renderer/renderer.js, compiled by tsc) with React into one
// ES module, out/app/renderer/renderer.bundle.js, which app/renderer/index.html loads: a sandboxed page
// resolves no bare `react` import. React's production build; no source of the library is duplicated for
// other users (the package's exports stay unbundled).
import { build } from 'esbuild';

await build({
  entryPoints: ['out/app/renderer/renderer.js'],
  outfile: 'out/app/renderer/renderer.bundle.js',
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'chrome120',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  minify: true,
  sourcemap: true,
});
