// Writes the code cache of a CommonJS bundle (see bin/bundle-loader.cjs). A process of its own: it changes
// V8 flags. Usage: node scripts/code-cache.js out/cli.cjs
import { resolve } from 'node:path';
import loader from '../bin/bundle-loader.cjs';

const file = resolve(process.argv[2] ?? 'out/cli.cjs');
loader.writeCodeCache(file);
