/**
 * The fencing token both stores hand out: a view of the lease `instanceId` holds on `key` through one store.
 * `check()` is the held lease's own check (synchronous, from its deadline); `verify()` also reads the store
 * back and refuses unless the stored record still names this holder and epoch.
 */
import { LeaseholdError } from '../errors.js';
import type { HeldLease } from './held-lease.js';
import type { LeaseKey } from './key.js';
import type { FencingToken } from './store.js';

/** Where a store keeps its held leases: one per key and instance. */
export const heldKey = (key: LeaseKey, instanceId: string) => `${key}\n${instanceId}`;

/** Removes `lease` from a store's held leases once it ended (not a newer lease of the same instance). */
export function forgetHeld(held: Map<string, HeldLease>, lease: HeldLease): void {
  const k = heldKey(lease.key, lease.instanceId);
  if (held.get(k) === lease) held.delete(k);
}

export function fencingToken(
  key: LeaseKey,
  instanceId: string,
  held: ReadonlyMap<string, HeldLease>,
  /** Whether the store's record of `key` still names `lease` (its holder and epoch, not released). */
  stillNamed: (lease: HeldLease) => Promise<boolean>,
): FencingToken {
  const lookup = (): HeldLease => {
    const lease = held.get(heldKey(key, instanceId));
    if (!lease)
      throw new LeaseholdError(
        'ENOTHELD',
        `instance ${instanceId} does not hold lease ${key} through this store; stop acting as its holder`,
        {
          key: String(key),
        },
      );
    return lease;
  };
  return {
    key,
    instanceId,
    check: () => lookup().check(),
    verify: async () => {
      const lease = lookup();
      lease.check();
      if (!(await stillNamed(lease)))
        throw new LeaseholdError('ENOTHELD', `the stored record of ${key} no longer names ${instanceId} at epoch ${lease.epoch}`, {
          key: String(key),
        });
      lease.check();
    },
  };
}
