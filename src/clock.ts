/**
 * Time, injectable.
 *
 * Guarantees: `now()` is monotonic (it never goes back, and on Linux and macOS it does not advance while
 * the machine sleeps). On the system clock it is CLOCK_MONOTONIC, so readings from different processes on
 * one machine are comparable (the chaos checkers rely on this). `wallNow()` is the wall clock: it can jump
 * both ways (NTP, sleep/resume, a user changing the time); use it only for timestamps that humans read and to
 * detect such jumps.
 *
 * Nothing outside this file calls `Date.now`, `setTimeout` or `setInterval`: pass a {@link Clock} instead,
 * and use {@link FakeClock} (from `leasehold/testing`) to drive time in tests.
 */

export interface Timer {
  /** Cancels the timer; idempotent. */
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (fractional). Only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since 1970. May jump. */
  wallNow(): number;
  /**
   * Calls `fn` once after `ms` monotonic milliseconds. Timers are unref'd: they never keep a process alive
   * on their own (a lease held by a process with nothing else to do must not stop it from exiting).
   */
  setTimeout(fn: () => void, ms: number): Timer;
}

class SystemClock implements Clock {
  now(): number {
    return Number(process.hrtime.bigint()) / 1e6;
  }
  wallNow(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): Timer {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  }
}

/** The process-wide real clock. */
export const systemClock: Clock = new SystemClock();

/** Resolves after `ms` on `clock`; rejects with the signal's reason if it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal!.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advance(ms)` runs due timers in order, yielding to pending
 * promise callbacks between them so that async code driven by timers makes progress as it would for real.
 */
export class FakeClock implements Clock {
  #mono: number;
  #wall: number;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(options: { now?: number; wallNow?: number } = {}) {
    this.#mono = options.now ?? 1_000;
    this.#wall = options.wallNow ?? 1_700_000_000_000;
  }

  now(): number {
    return this.#mono;
  }
  wallNow(): number {
    return this.#wall;
  }
  setTimeout(fn: () => void, ms: number): Timer {
    const timer: FakeTimer = { at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Number of timers still pending. */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves both clocks forward by `ms`, running every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    for (;;) {
      await flushMicrotasks();
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#wall += due.at - this.#mono;
      this.#mono = due.at;
      due.cancelled = true;
      this.#timers = this.#timers.filter((t) => t !== due);
      due.fn();
    }
    this.#wall += target - this.#mono;
    this.#mono = target;
    await flushMicrotasks();
  }

  /**
   * Simulates a stalled process (SIGSTOP, a debugger, a blocked event loop): both clocks move forward but
   * no timer runs until the next `advance`.
   */
  stall(ms: number): void {
    this.#mono += ms;
    this.#wall += ms;
  }

  /** Moves only the wall clock (NTP step, a user changing the time). */
  jumpWall(ms: number): void {
    this.#wall += ms;
  }

  /**
   * Simulates the machine sleeping for `ms`: the wall clock advances, the monotonic clock does not (as
   * CLOCK_MONOTONIC on Linux and mach_absolute_time on macOS behave).
   */
  sleepMachine(ms: number): void {
    this.#wall += ms;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Keeps the process alive until the returned function is called (commands that wait on unref'd timers
 * only, like `leasehold watch`).
 */
export function keepProcessAlive(): () => void {
  const handle = setInterval(() => undefined, 2 ** 30);
  return () => clearInterval(handle);
}

/** Resolves after the rest of this event-loop turn (pending I/O callbacks run first). Not a timer. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
