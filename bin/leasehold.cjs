#!/usr/bin/env node
// The `leasehold` command. `npm run build` compiles it to out/ and bundles it into out/cli.cjs, which loads
// faster than the ES modules it is made of (with a V8 code cache, see bundle-loader.cjs); without the
// bundle the modules are used. CommonJS: an ES module entry point costs ≈ 10 ms more to start here.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { loadBundle } = require('./bundle-loader.cjs');

const bundle = join(__dirname, '../out/cli.cjs');
const args = process.argv.slice(2);
if (existsSync(bundle)) loadBundle(bundle).main(args);
else import('../out/src/cli/main.js').then((m) => m.main(args));
