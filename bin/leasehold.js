#!/usr/bin/env node
// The `leasehold` command; the code is compiled to out/ by `npm run build`.
import { main } from '../out/src/cli/main.js';

await main(process.argv.slice(2));
