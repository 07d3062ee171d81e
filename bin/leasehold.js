#!/usr/bin/env node
// The `leasehold` command. `npm run build` compiles it to out/ and bundles it into out/cli.cjs, which loads
// faster than the ES modules it is made of (with a V8 code cache, see bundle-loader.js); without the bundle
// the modules are used.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadBundle } from './bundle-loader.js';

const bundle = fileURLToPath(new URL('../out/cli.cjs', import.meta.url));
const { main } = existsSync(bundle) ? loadBundle(bundle) : await import('../out/src/cli/main.js');
await main(process.argv.slice(2));
