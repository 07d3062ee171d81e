/**
 * `leasehold status`: who holds the lease (in a data root, or in etcd with `--etcd`). Exit 0 when held, 3
 * when free. Never prints secrets. A free key whose journal is damaged (instances in role `failed`) says so:
 * `damaged` names the file and offset (data roots only: the journal is there).
 */
import { LeaseKey } from '../lease/key.js';
import { toHolder } from '../instance/instance.js';
import type { CliValues } from './main.js';
import type { LeaseState } from '../lease/store.js';
import { openLeaseStore } from './lease-store.js';
import { readDamage } from '../state/damage.js';
import { stateDir } from '../state/owner-handler.js';

export function keyOf(values: CliValues): LeaseKey {
  return values.key ? LeaseKey.from(values.key) : LeaseKey.forApp(values.app ?? 'leasehold');
}

export async function runStatus(values: CliValues): Promise<void> {
  const { store, root, close } = await openLeaseStore(values, { createDataRoot: false });
  const key = keyOf(values);
  let state: LeaseState;
  try {
    state = await store.describe(key);
  } finally {
    await close();
  }
  if (state.state === 'held') {
    const h = toHolder(state.record);
    const out = {
      key: String(key),
      held: true,
      ...h,
      since: new Date(h.acquiredAt).toISOString(),
      expires: new Date(h.renewedAt + h.ttlMs).toISOString(),
    };
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
    else
      process.stdout.write(
        `${key}: held by ${h.name || h.instanceId} (instance ${h.instanceId}, pid ${h.pid} on ${h.host})\n` +
          `  epoch ${h.epoch}, endpoint ${h.endpoint ?? '-'}\n  since ${out.since}, expires ${out.expires} unless renewed\n`,
      );
    process.exitCode = 0;
    return;
  }
  const damage = root === undefined ? undefined : readDamage(stateDir(root, key.pathSegments()));
  const damaged = damage ? { damaged: { path: damage.path, offset: damage.offset, message: damage.message } } : {};
  const out =
    state.state === 'free'
      ? { key: String(key), held: false, reason: state.reason, lastEpoch: state.record?.epoch ?? 0 }
      : state.reason === 'corrupt'
        ? { key: String(key), held: false, reason: 'corrupt', path: state.path, message: state.message }
        : { key: String(key), held: false, reason: 'claimed', epoch: state.epoch, message: state.message };
  if (values.json) process.stdout.write(JSON.stringify({ ...out, ...damaged }) + '\n');
  else
    process.stdout.write(
      `${key}: free (${out.reason})${'message' in out ? `: ${out.message}` : ''}\n` +
        (damage ? `  no instance owns it: ${damage.message}; run leasehold repair\n` : ''),
    );
  process.exitCode = 3;
}
