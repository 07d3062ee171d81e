/** Shared test helpers: temp data roots, waiting for conditions, blocking the event loop. */
import { after } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Clock, Timer } from '../src/clock.js';
import { LeaseholdError } from '../src/errors.js';

export async function tempRoot(prefix = 'leasehold-test-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** For one suite (call it inside describe()): makes temp data roots, all removed after the suite. */
export function suiteRoots(): () => Promise<string> {
  const removes: (() => Promise<void>)[] = [];
  after(async () => {
    for (const remove of removes) await remove();
  });
  return async () => {
    const r = await tempRoot();
    removes.push(r.remove);
    return r.dir;
  };
}

/** Runs `fn` with the process umask set to `mask`, restored after (also after a rejection). */
export async function withUmask<T>(mask: number, fn: () => T | Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

/** An assert.throws / rejects check: EIO naming `path` (in `err.path` and the message) that says `what`. */
export const refused = (path: string, what: RegExp) => (e: unknown) =>
  e instanceof LeaseholdError && e.code === 'EIO' && e.path === path && e.message.includes(path) && what.test(e.message);

/** Blocks this thread for `ms`: a real stall (no timer, no I/O callback runs). */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function until<T>(fn: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** A pid that certainly belongs to no running process. */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

/**
 * A clock whose timers can be paused, as SIGSTOP pauses a process: while paused, due callbacks queue
 * and run on resume. `now()` keeps reading the base clock, so a resumed holder sees the time that passed.
 */
export class PausableClock implements Clock {
  #paused = false;
  #queue: (() => void)[] = [];
  constructor(private readonly base: Clock) {}
  now(): number {
    return this.base.now();
  }
  wallNow(): number {
    return this.base.wallNow();
  }
  setTimeout(fn: () => void, ms: number): Timer {
    let cancelled = false;
    const t = this.base.setTimeout(() => {
      if (cancelled) return;
      if (this.#paused) this.#queue.push(() => !cancelled && fn());
      else fn();
    }, ms);
    return {
      cancel: () => {
        cancelled = true;
        t.cancel();
      },
    };
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    const q = this.#queue;
    this.#queue = [];
    for (const fn of q) fn();
  }
}

/** Runs `fn` with `<a new temp root>/state` (not created), and removes the root afterwards. */
export async function withStateDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const r = await tempRoot(prefix);
  try {
    return await fn(join(r.dir, 'state'));
  } finally {
    await r.remove();
  }
}
