// Loads the `leasehold` command's bundle (out/cli.cjs) with V8's code cache (out/cli.cjs.cache).
//
// Why: an instance runs most of its code for the first time at the worst moment. The follower that takes
// over after a handover had never run the owner's code, and V8 compiles a function on its first call: in
// a traced handover that was 4.8 ms of the successor's 15 ms of CPU, on the critical path. The cache holds
// the bytecode of every function of the bundle, made once at build time (`writeCodeCache`), so nothing is
// compiled at start-up or at a takeover, and start-up deserializes instead of parsing.
// What is not guaranteed: V8 accepts a cache only from the same V8 version and flags. Any other node
// (or a cache that does not match the bundle) is rejected by V8, and the bundle is compiled as usual.
'use strict';
const { createRequire } = require('node:module');
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

const wrap = (source) => `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
const cacheFileOf = (file) => `${file}.cache`;

/**
 * Compiles the CommonJS bundle `file` with its code cache when there is one. `cacheRejected`: undefined
 * without a cache, true when V8 refused it (another V8, other flags, another bundle). `run()` executes it
 * and returns its exports.
 */
function compileBundle(file) {
  let cachedData;
  try {
    cachedData = readFileSync(cacheFileOf(file));
  } catch {
    // no cache: compile as usual
  }
  const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file, ...(cachedData ? { cachedData } : {}) });
  return {
    cacheRejected: cachedData ? script.cachedDataRejected === true : undefined,
    run() {
      const module = { exports: {} };
      script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
      return module.exports;
    },
  };
}

/** Runs the CommonJS bundle `file` and returns its exports, using its code cache when V8 accepts it. */
function loadBundle(file) {
  return compileBundle(file).run();
}

/**
 * Writes `file`'s code cache with every function compiled (V8 compiles lazily otherwise, and a cache holds
 * only what is compiled). Run it in a process of its own: it changes V8 flags while it compiles.
 * Returns the cache's size in bytes.
 */
function writeCodeCache(file) {
  const { setFlagsFromString } = require('node:v8'); // here only: loading node:v8 costs ≈ 3 ms of every start
  setFlagsFromString('--no-lazy');
  const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file });
  // Back to the default before serializing: V8 stamps the cache with a hash of the flags in force, and
  // the command runs with the defaults.
  setFlagsFromString('--lazy');
  const data = script.createCachedData();
  const out = cacheFileOf(file);
  writeFileSync(`${out}.tmp`, data);
  renameSync(`${out}.tmp`, out);
  return data.length;
}

module.exports = { cacheFileOf, compileBundle, loadBundle, writeCodeCache };
