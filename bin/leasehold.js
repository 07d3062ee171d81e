#!/usr/bin/env node
// The `leasehold` command. `npm run build` compiles it to out/ and bundles it into out/cli.cjs, which loads
// faster than the ES modules it is made of; without the bundle the modules are used.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

const bundle = new URL('../out/cli.cjs', import.meta.url);
const { main } = existsSync(bundle) ? createRequire(import.meta.url)(bundle.pathname) : await import('../out/src/cli/main.js');
await main(process.argv.slice(2));
