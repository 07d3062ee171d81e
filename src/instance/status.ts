/**
 * What an instance says about itself: its role, the owner's epoch and record as known here, presence, why
 * it failed; the events that announce each change, and the waiters that resolve on one (`whenOwner`,
 * `whenConnected`). No I/O and no decisions: the loop (instance.ts) tells it what happened.
 *
 * Guarantees: `role-change` is emitted when the role changes, and again when an owner owns under a new
 * epoch; `owner-change` when the holder (epoch or instance) changes; the epoch never goes down; a failure
 * rejects every waiter with it.
 */
import { LeaseholdError } from '../errors.js';
import { Emitter, Waiters } from '../events.js';
import type { LeaseRecord } from '../lease/record.js';
import type { InstanceInfo } from '../transport/protocol.js';
import { toHolder, type Holder, type InstanceEvent, type Role } from './role.js';

export class InstanceStatus {
  readonly events = new Emitter<InstanceEvent>();
  readonly whenOwner = new Waiters<void>();
  readonly whenConnected = new Waiters<void>();
  role: Role = 'starting';
  /** The current owner's epoch as known here (0 before any is known). */
  epoch = 0;
  /** The epoch of the last role-change event. */
  #roleEpoch = 0;
  holder: Holder | undefined;
  instances: InstanceInfo[] = [];
  /** Why the role is `failed`. */
  failure: LeaseholdError | undefined;

  constructor() {
    this.events.onListenerError = (err) =>
      queueMicrotask(() => {
        throw err;
      });
  }

  /** Emits role-change when the role changes, and also when an owner owns again under a new epoch. */
  setRole(role: 'owner' | 'follower'): void {
    const previous = this.role;
    if (previous === role && (role === 'follower' || this.#roleEpoch === this.epoch)) return;
    this.role = role;
    this.#roleEpoch = this.epoch;
    this.events.emit({ type: 'role-change', role, previous, epoch: this.epoch });
  }

  setHolder(record: LeaseRecord): void {
    const holder = toHolder(record);
    this.seen(holder.epoch);
    const changed = !this.holder || this.holder.epoch !== holder.epoch || this.holder.instanceId !== holder.instanceId;
    this.holder = holder;
    if (changed) this.events.emit({ type: 'owner-change', holder, epoch: holder.epoch });
  }

  /** An epoch seen (a record, a welcome, a damage marker): the known epoch only rises. */
  seen(epoch: number): void {
    this.epoch = Math.max(this.epoch, epoch);
  }

  presence(instances: InstanceInfo[]): void {
    this.instances = instances;
    this.events.emit({ type: 'presence', instances });
  }

  /** Owns (serving `record`, with `instances` connected): role owner, both waiters resolved. */
  serving(record: LeaseRecord, instances: InstanceInfo[]): void {
    this.instances = instances;
    this.setHolder(record);
    this.setRole('owner');
    this.whenOwner.resolveAll();
    this.whenConnected.resolveAll();
  }

  /** Role `failed` for `error`: an `error` event, a role-change carrying it, every waiter rejected. */
  fail(error: LeaseholdError): void {
    this.failure = error;
    this.events.emit({ type: 'error', error });
    const previous = this.role;
    this.role = 'failed';
    this.events.emit({ type: 'role-change', role: 'failed', previous, epoch: this.epoch, error });
    this.whenOwner.rejectAll(error);
    this.whenConnected.rejectAll(error);
  }

  /** An `error` event: `err` as it is when it is a LeaseholdError, else as EIO saying `what` failed. */
  error(err: unknown, what?: string): void {
    const e =
      err instanceof LeaseholdError
        ? err
        : new LeaseholdError('EIO', `${what ?? 'unexpected error'}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    this.events.emit({ type: 'error', error: e });
  }
}
