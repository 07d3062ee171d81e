/**
 * observe(): waits until the state of a lease key is one the caller is looking for. Every wait on a record
 * is this one loop with its own predicate and timings: `waitUntilReleased`, a follower waiting for the
 * successor's record after a graceful handover, the successor waiting for the old owner's release, and the
 * follower's backstop that notices a record naming someone else.
 *
 * Guarantees:
 *  1. The predicate sees the result of every read, in order, a failed read included (`unreadable`, with
 *     the error); the first value other than undefined it returns resolves the wait with that value. If
 *     it throws, the wait rejects with what it threw.
 *  2. Timing: the first read starts at once (with `readAtOnce: false`, one `pollIntervalMs` from now).
 *     The next starts at the first change notification since the previous read began (notifications off:
 *     never), or `pollIntervalMs` after the previous read ended, whichever comes first.
 *  3. As soon as a signal aborts, the wait rejects with its reason (EABORTED when it has none, as every
 *     waiter here). At `deadline` (on the injected clock's monotonic time) it rejects with ETIMEOUT: no
 *     read starts at or after it, and the last pause is cut short to end there. A read that was already
 *     under way is still judged.
 *  4. Once it settles nothing it registered remains: the store's watcher is stopped, its timer cancelled
 *     and its abort listeners removed. A read still under way then is left to finish; its result is ignored.
 * Not guaranteed: that every state is seen (one that lasts less than a pause, with no notification, is
 * missed); that notifications come, or come only on changes (on disk they are fs.watch events): hence the
 * polling, which stays the guarantee.
 */
import type { Clock, Timer } from '../clock.js';
import { LeaseholdError, abortError } from '../errors.js';
import type { LeaseKey } from './key.js';
import type { LeaseRecord } from './record.js';
import type { LeaseState, LeaseStore } from './store.js';

/** What one read of a key found: its state, or why it could not be read. */
export type Observation = LeaseState | { state: 'unreadable'; error: unknown };

/** What observe() needs of a store: reads and change notifications. Any LeaseStore has them. */
export type ObservedStore = Pick<LeaseStore, 'describe' | 'watch'>;

export interface ObserveOptions {
  clock: Clock;
  /** The longest pause between two reads. */
  pollIntervalMs: number;
  /** Rejects the wait when any of these aborts. */
  signal?: AbortSignal | readonly AbortSignal[];
  /** Monotonic time (`clock.now()`) at which the wait rejects with ETIMEOUT. @default none */
  deadline?: number;
  /** Read again at the store's change notifications, not only every `pollIntervalMs`. @default true */
  notifications?: boolean;
  /** Read at once; false: first after one `pollIntervalMs`. @default true */
  readAtOnce?: boolean;
}

/** Resolves with the first value other than undefined that `look` returns for a read of `key` (see 1–4). */
export function observe<T>(
  store: ObservedStore,
  key: LeaseKey | string,
  look: (seen: Observation) => T | undefined,
  options: ObserveOptions,
): Promise<T> {
  const { clock, pollIntervalMs, deadline } = options;
  const signals: readonly AbortSignal[] =
    options.signal === undefined ? [] : Array.isArray(options.signal) ? options.signal : [options.signal as AbortSignal];
  return new Promise<T>((resolve, reject) => {
    const aborted = signals.find((s) => s.aborted);
    if (aborted) return reject(abortError(aborted));
    let done = false;
    let reading = false;
    /** A notification came while a read was under way: that read may have missed the change. */
    let changed = false;
    let timer: Timer | undefined;
    let stopWatch: (() => void) | undefined;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      timer?.cancel();
      timer = undefined;
      stopWatch?.();
      for (const s of signals) s.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = () => {
      const signal = signals.find((s) => s.aborted);
      if (signal) finish(() => reject(abortError(signal)));
    };
    const timedOut = () =>
      finish(() => reject(new LeaseholdError('ETIMEOUT', `the lease ${String(key)} did not reach the awaited state in time`)));
    const pause = () => {
      let ms = Math.max(0, pollIntervalMs);
      if (deadline !== undefined) {
        const left = deadline - clock.now();
        if (left <= 0) return timedOut();
        ms = Math.min(ms, left);
      }
      timer = clock.setTimeout(() => {
        timer = undefined;
        void read();
      }, ms);
    };
    const read = async (): Promise<void> => {
      if (deadline !== undefined && clock.now() >= deadline) return timedOut();
      reading = true;
      changed = false;
      let seen: Observation;
      try {
        seen = await store.describe(key);
      } catch (error) {
        seen = { state: 'unreadable', error };
      }
      reading = false;
      if (done) return;
      let found: T | undefined;
      try {
        found = look(seen);
      } catch (err) {
        return finish(() => reject(err));
      }
      if (found !== undefined) return finish(() => resolve(found));
      if (changed) return read();
      pause();
    };
    const onChange = () => {
      if (done) return;
      if (reading) changed = true;
      else if (timer) {
        timer.cancel();
        timer = undefined;
        void read();
      }
    };
    // The watcher first: if the store throws, nothing else is registered yet.
    if (options.notifications !== false) stopWatch = store.watch(key, onChange);
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    if (options.readAtOnce === false) pause();
    else void read();
  });
}

/** The record a state names, if any (a free key may still show its last holder's). */
export function recordOf(seen: Observation): LeaseRecord | undefined {
  return 'record' in seen ? seen.record : undefined;
}

/**
 * A predicate for {@link observe}: true once the key is free, or its record names a holder other than
 * `holder` (another instance, or another epoch of it). A failed read rejects the wait with its error.
 */
export function holderChanged(holder: LeaseRecord | undefined): (seen: Observation) => true | undefined {
  const was = holder && `${holder.instanceId}/${holder.epoch}`;
  return (seen) => {
    if (seen.state === 'unreadable') throw seen.error;
    if (seen.state === 'free') return true;
    const record = recordOf(seen);
    return record && `${record.instanceId}/${record.epoch}` !== was ? true : undefined;
  };
}

/**
 * Waits until `key` is free or held by an instance other than the one holding it now (the holder of the
 * first read): `LeaseStore.waitUntilReleased`, for any store. Rejects as {@link observe}, and with the
 * error of a failed read.
 */
export async function waitForHolderChange(store: ObservedStore, key: LeaseKey | string, options: ObserveOptions): Promise<void> {
  const first = await store.describe(key);
  await observe(store, key, holderChanged(recordOf(first)), options);
}
