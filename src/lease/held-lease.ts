/**
 * A held lease: renews in the background, fences itself, and reports its end exactly once.
 *
 * Self-fencing: a renewal that starts at monotonic time t makes the lease valid until
 * t + ttl − safetyMargin. Observers time expiry from when they see the renewed record, which is after t, so
 * this holder's validity always ends before anyone can take over. `check()` compares against that deadline
 * synchronously, so a process that was stopped (SIGSTOP, a debugger, a stalled event loop) fails its next
 * check on waking even before any timer runs.
 */
import type { Clock, Timer } from '../clock.js';
import { LeaseholdError, isLeaseholdError, type LostReason } from '../errors.js';
import type { LeaseKey } from './key.js';
import type { LeaseRecord, Meta } from './record.js';
import type { Lease } from './store.js';
import type { LeaseTiming } from './timing.js';

/** What a store does for a held lease. Each call returns the record it wrote. */
export interface LeaseBackend {
  /** Renews; throws ELOST ('superseded') when another epoch took over, anything else is retried. */
  renew(record: LeaseRecord): Promise<LeaseRecord>;
  /** Marks the record released if it is still this holder's. Never throws for "not ours". */
  release(record: LeaseRecord): Promise<void>;
  updateMeta(record: LeaseRecord, meta: Meta): Promise<LeaseRecord>;
  /** Called once when the lease ends, for bookkeeping. */
  ended(lease: HeldLease): void;
}

export class HeldLease implements Lease {
  readonly key: LeaseKey;
  readonly instanceId: string;
  readonly epoch: number;
  #record: LeaseRecord;
  readonly #clock: Clock;
  readonly #timing: LeaseTiming;
  readonly #backend: LeaseBackend;
  readonly #lost = new AbortController();
  #validUntil: number;
  #lastMono: number;
  #lastWall: number;
  #timer: Timer | undefined;
  #deadline: Timer | undefined;
  #ops: Promise<unknown> = Promise.resolve();
  #lastError: unknown;

  constructor(p: { key: LeaseKey; record: LeaseRecord; startedAt: number; clock: Clock; timing: LeaseTiming; backend: LeaseBackend }) {
    this.key = p.key;
    this.instanceId = p.record.instanceId;
    this.epoch = p.record.epoch;
    this.#record = p.record;
    this.#clock = p.clock;
    this.#timing = p.timing;
    this.#backend = p.backend;
    this.#validUntil = p.startedAt + p.timing.ttlMs - p.timing.safetyMarginMs;
    this.#lastMono = p.clock.now();
    this.#lastWall = p.clock.wallNow();
    this.#armDeadline();
    this.#schedule(p.timing.renewIntervalMs);
  }

  get record(): LeaseRecord {
    return this.#record;
  }
  get lost(): AbortSignal {
    return this.#lost.signal;
  }
  get held(): boolean {
    return !this.#lost.signal.aborted && this.#clock.now() < this.#validUntil;
  }
  /** Monotonic time until which the lease is valid (for diagnostics and tests). */
  get validUntil(): number {
    return this.#validUntil;
  }

  check(): void {
    if (this.#lost.signal.aborted) throw this.#lost.signal.reason;
    if (this.#detectJump()) throw this.#lost.signal.reason;
    if (this.#clock.now() >= this.#validUntil) {
      this.#end('expired');
      throw this.#lost.signal.reason;
    }
  }

  updateMeta(meta: Meta): Promise<void> {
    return this.#serial(async () => {
      this.check();
      this.#record = await this.#backend.updateMeta(this.#record, meta);
    });
  }

  release(): Promise<void> {
    if (this.#lost.signal.aborted)
      return this.#ops.then(
        () => undefined,
        () => undefined,
      );
    this.#end('released', undefined, false);
    return this.#serial(() => this.#backend.release(this.#record));
  }

  /** Ends the lease without touching the store (a crashed process, or a closed store). */
  abandon(reason: LostReason): void {
    this.#end(reason, undefined, false);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#ops.then(fn, fn);
    this.#ops = next.catch(() => undefined);
    return next;
  }

  #schedule(ms: number): void {
    this.#timer?.cancel();
    if (this.#lost.signal.aborted) return;
    this.#timer = this.#clock.setTimeout(() => void this.#renew(), ms);
  }

  #armDeadline(): void {
    this.#deadline?.cancel();
    const ms = Math.max(0, this.#validUntil - this.#clock.now());
    this.#deadline = this.#clock.setTimeout(() => {
      if (this.#clock.now() < this.#validUntil) return this.#armDeadline();
      const e = this.#lastError;
      const io = e !== undefined && (!isLeaseholdError(e) || e.code === 'EIO');
      this.#end(io ? 'io' : 'expired', e);
    }, ms);
  }

  /** True (and the lease ended) when the wall clock moved differently from the monotonic clock. */
  #detectJump(): boolean {
    const mono = this.#clock.now();
    const wall = this.#clock.wallNow();
    const drift = wall - this.#lastWall - (mono - this.#lastMono);
    this.#lastMono = mono;
    this.#lastWall = wall;
    if (Math.abs(drift) > this.#timing.clockJumpMs) {
      this.#end('clock-jump', undefined, true, `the wall clock jumped by ${Math.round(drift)} ms (sleep/resume or a time change)`);
      return true;
    }
    return false;
  }

  #renew(): Promise<void> {
    return this.#serial(async () => {
      if (this.#lost.signal.aborted) return;
      if (this.#detectJump()) return;
      const startedAt = this.#clock.now();
      if (startedAt >= this.#validUntil) return this.#end('expired');
      try {
        const record = await this.#backend.renew(this.#record);
        if (this.#lost.signal.aborted) return;
        this.#record = record;
        this.#lastError = undefined;
        this.#validUntil = startedAt + this.#timing.ttlMs - this.#timing.safetyMarginMs;
        this.#armDeadline();
        this.#schedule(Math.max(0, startedAt + this.#timing.renewIntervalMs - this.#clock.now()));
      } catch (err) {
        if (isLeaseholdError(err, 'ELOST')) return this.#end(err.reason ?? 'superseded', err, false);
        // Transient (I/O, a busy mutex): try again soon; the deadline timer ends the lease if this persists.
        this.#lastError = err;
        this.#schedule(Math.min(250, Math.max(1, Math.floor(this.#timing.renewIntervalMs / 4))));
      }
    });
  }

  #end(reason: LostReason, cause?: unknown, tryRelease = true, detail?: string): void {
    if (this.#lost.signal.aborted) return;
    this.#timer?.cancel();
    this.#deadline?.cancel();
    const what =
      reason === 'released'
        ? 'was released'
        : reason === 'superseded'
          ? 'was taken over by a newer epoch'
          : reason === 'expired'
            ? 'expired before it could be renewed (the process stalled, slept or could not write)'
            : reason === 'io'
              ? 'could not be renewed because of I/O errors'
              : reason === 'compromised'
                ? "was compromised: the store's lock was taken while this holder stalled"
                : reason === 'closed'
                  ? 'ended because its store was closed'
                  : 'may have been lost';
    const err = new LeaseholdError('ELOST', `lease ${this.key} (epoch ${this.epoch}) ${detail ?? what}`, {
      reason,
      cause,
      key: String(this.key),
    });
    this.#lost.abort(err);
    this.#backend.ended(this);
    // Possibly still named in the store (stalled, clock jump): free it so that others need not wait a ttl.
    if (tryRelease) void this.#serial(() => this.#backend.release(this.#record)).catch(() => undefined);
  }
}
