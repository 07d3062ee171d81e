/**
 * What an instance says about itself and its owner: its role, the owner's record without secrets
 * (Holder), and the events it emits. Types and one pure conversion, no state.
 */
import type { LeaseholdError, LostReason } from '../errors.js';
import { redactRecord, type LeaseRecord } from '../lease/record.js';
import type { LinkClose } from '../transport/client.js';
import type { InstanceInfo } from '../transport/protocol.js';

/**
 * `failed`: the journal is damaged, and this instance does not contend until it is repaired; or this code
 * cannot serve or follow the shared state (EOUTDATED, EMIGRATION) and stays so until close (see `failure`).
 */
export type Role = 'starting' | 'owner' | 'follower' | 'failed' | 'closed';

/** The owner's record as instances may show it: no secrets. */
export interface Holder {
  instanceId: string;
  epoch: number;
  pid: number;
  host: string;
  name: string;
  endpoint: string | null;
  acquiredAt: number;
  renewedAt: number;
  ttlMs: number;
}

export type InstanceEvent =
  | { type: 'role-change'; role: 'owner' | 'follower'; previous: Role; epoch: number }
  /** The journal is damaged (`error`: ECORRUPT with `path` and `offset`); also emitted as an `error` event. */
  | { type: 'role-change'; role: 'failed'; previous: Role; epoch: number; error: LeaseholdError }
  | { type: 'owner-change'; holder: Holder; epoch: number }
  /**
   * The owner runs on another host (`holder.host`: a data root on a shared home directory) and serves on
   * its own loopback: this instance does not connect to it (nor send it the secret), stays a follower that
   * is not connected, and contends once that lease is released or expires. Once per owner's epoch.
   */
  | { type: 'other-host'; holder: Holder; epoch: number }
  /** `handover`: over a link prepared before a graceful handover (no new handshake); `record`: found from the lease record. */
  | { type: 'connected'; epoch: number; ownerId: string; via: 'handover' | 'record' }
  | { type: 'disconnected'; epoch: number; why: LinkClose['why'] }
  | { type: 'presence'; instances: InstanceInfo[] }
  | { type: 'lost'; epoch: number; reason: LostReason; error: LeaseholdError }
  | { type: 'error'; error: LeaseholdError }
  | { type: 'closed' };

export function toHolder(record: LeaseRecord): Holder {
  const r = redactRecord(record);
  return {
    instanceId: r.instanceId,
    epoch: r.epoch,
    pid: r.pid,
    host: r.host,
    name: typeof r.meta.name === 'string' ? r.meta.name : '',
    endpoint: typeof r.meta.endpoint === 'string' ? r.meta.endpoint : null,
    acquiredAt: r.acquiredAt,
    renewedAt: r.renewedAt,
    ttlMs: r.ttlMs,
  };
}
