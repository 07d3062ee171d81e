/**
 * The CommonJS dependencies, loaded with `require`: importing `ws` through its ESM wrapper makes
 * start-up markedly slower, and start-up time is a product target. The command's bundle replaces this module
 * with plain requires, so that both are bundled and in its code cache (scripts/bundle-cli.js).
 */
import { createRequire } from 'node:module';
import type * as WsModule from 'ws';
import type * as LockfileModule from 'proper-lockfile';

const require = createRequire(import.meta.url);

export const ws = require('ws') as typeof WsModule;
export const lockfile = require('proper-lockfile') as typeof LockfileModule;
