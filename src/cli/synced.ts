/**
 * Waiting, in the CLI, for the replica to sync with an owner: resolves once synced; rejects with the
 * instance's failure (ECORRUPT: a damaged journal, so no owner will serve) as soon as it is in role
 * `failed`, or with the signal's reason.
 */
import type { Instance } from '../instance/instance.js';

export function syncedOrFailed(instance: Instance, signal?: AbortSignal): Promise<void> {
  if (instance.role === 'failed' && instance.failure) return Promise.reject(instance.failure);
  const failed = new AbortController();
  const stop = instance.subscribe((e) => {
    if (e.type === 'role-change' && instance.role === 'failed' && instance.failure) failed.abort(instance.failure);
  });
  const signals = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  return instance.state.whenSynced({ signal: signals }).finally(stop);
}
