/**
 * The CommonJS dependencies, loaded with `require`: importing `ws` through its ESM wrapper costs twice
 * as long at start-up (≈55 ms against ≈25 ms here), and start-up time is a product target.
 */
import { createRequire } from 'node:module';
import type * as WsModule from 'ws';
import type * as LockfileModule from 'proper-lockfile';

const require = createRequire(import.meta.url);

export const ws = require('ws') as typeof WsModule;
export const lockfile = require('proper-lockfile') as typeof LockfileModule;
