/**
 * One attempt at the lease (steps 0–2 of instance.ts), with a typed result:
 *  0. A journal known to be damaged (this instance failed on it, or another left its marker: see
 *     state/damage.ts) stays damaged: claim no epoch until the file changes.
 *  1. Listen first (fresh secret), so the endpoint goes into the same record write as the acquisition.
 *     Check the state directory once before the first acquisition: a refused one (EIO) costs no epoch.
 *     Then read the marker again: an owner that failed while this one listened left it before it released.
 *  2. Acquire. ECONFLICT names the holder to follow.
 * Guarantees: no epoch is claimed while a damage marker is in force or the state directory is refused.
 */
import type { Timing } from '../config.js';
import { isLeaseholdError } from '../errors.js';
import type { LeaseKey } from '../lease/key.js';
import type { LeaseRecord } from '../lease/record.js';
import type { Lease, LeaseStore } from '../lease/store.js';
import { readDamage, type Damage } from '../state/damage.js';
import { prepareJournalDir, type JournalFs } from '../state/journal/index.js';
import type { OwnerServer } from '../transport/server.js';
import type { Listener } from './listener.js';

export type Contention =
  /** The journal is damaged: do not contend until it is repaired. */
  | { kind: 'damaged'; damage: Damage }
  /** Listening, the state directory or the acquisition failed (reported): back off, then contend again. */
  | { kind: 'retry' }
  | { kind: 'acquired'; lease: Lease; server: OwnerServer }
  /** Someone else holds the lease. */
  | { kind: 'held'; holder: LeaseRecord }
  | { kind: 'closed' };

export interface ContendContext {
  readonly instanceId: string;
  readonly name: string;
  readonly key: LeaseKey;
  readonly store: LeaseStore;
  readonly timing: Timing;
  readonly stop: AbortSignal;
  readonly listener: Listener;
  /** The data root (trusted) and the state directory under it. */
  readonly root: string;
  readonly stateDir: string;
  readonly journalFs: JournalFs | undefined;
  error(err: unknown, what: string): void;
}

export class Contender {
  readonly #ctx: ContendContext;
  /** The state directory passed its check (private-files.ts) once: later refusals come from Journal.open. */
  #stateDirChecked = false;

  constructor(ctx: ContendContext) {
    this.#ctx = ctx;
  }

  /** `known`: damage this instance found itself, while it is as it was found. */
  async contend(known: Damage | undefined): Promise<Contention> {
    const ctx = this.#ctx;
    // 0. a damaged journal: acquiring would only claim an epoch to fail on it again
    let damage = known ?? readDamage(ctx.stateDir);
    if (damage) return { kind: 'damaged', damage };
    // 1. listen first
    let server: OwnerServer;
    try {
      server = await ctx.listener.listen();
    } catch (err) {
      ctx.error(err, 'cannot listen');
      return { kind: 'retry' };
    }
    if (!this.#stateDirChecked)
      try {
        prepareJournalDir(ctx.stateDir, ctx.root, ctx.journalFs);
        this.#stateDirChecked = true;
      } catch (err) {
        ctx.error(err, 'cannot use the state directory');
        return { kind: 'retry' };
      }
    if ((damage = readDamage(ctx.stateDir))) return { kind: 'damaged', damage };
    // 2. acquire
    try {
      const lease = await ctx.store.acquire(ctx.key, {
        ttlMs: ctx.timing.ttlMs,
        renewIntervalMs: ctx.timing.renewIntervalMs,
        instanceId: ctx.instanceId,
        meta: { endpoint: server.endpoint, secret: ctx.listener.secret, name: ctx.name, protocol: 1 },
        signal: ctx.stop,
      });
      return { kind: 'acquired', lease, server };
    } catch (err) {
      if (ctx.stop.aborted) return { kind: 'closed' };
      if (isLeaseholdError(err, 'ECONFLICT') && err.holder) return { kind: 'held', holder: err.holder as LeaseRecord };
      ctx.error(err, 'cannot acquire the lease');
      return { kind: 'retry' };
    }
  }
}
