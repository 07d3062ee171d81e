/**
 * `leasehold repair`: the way out of a damaged journal (instances in role `failed`). It holds the lease
 * while it works, so it refuses (exit 1) while an owner is alive, and no instance can own meanwhile; the
 * instances that stay out over the damage notice the change and contend again by themselves. What it does
 * and what is lost: state/damage.ts. Exit 0 when the state recovers afterwards (or needed nothing).
 */
import { FileLeaseStore } from '../lease/file-store.js';
import { isLeaseholdError } from '../errors.js';
import { toHolder } from '../instance/instance.js';
import { repair } from '../state/damage.js';
import { stateDir } from '../state/owner-handler.js';
import { fail, requireDataRoot, type CliValues } from './main.js';
import { keyOf } from './status.js';

export async function runRepair(values: CliValues): Promise<void> {
  const store = new FileLeaseStore({ dataRoot: requireDataRoot(values), createDataRoot: false });
  const key = keyOf(values);
  let lease;
  try {
    lease = await store.acquire(key, { meta: { name: 'leasehold repair' } });
  } catch (err) {
    await store.close().catch(() => undefined);
    if (isLeaseholdError(err, 'ECONFLICT') && err.holder) {
      const h = toHolder(err.holder as Parameters<typeof toHolder>[0]);
      fail(
        `${key} is held by ${h.name || h.instanceId} (pid ${h.pid} on ${h.host}, epoch ${h.epoch}): ` +
          'an owner is alive, so its journal is not damaged for it; repair only with no owner running',
        1,
      );
    }
    throw err;
  }
  try {
    const dir = stateDir(store.root, key.pathSegments());
    const result = await repair(dir);
    if (values.json) process.stdout.write(JSON.stringify({ key: String(key), dir, ...result }) + '\n');
    else {
      let text = '';
      for (const s of result.steps)
        text +=
          s.action === 'moved'
            ? `moved ${s.path} aside to ${s.aside} (${s.bytes} bytes): ${s.why}\n`
            : `cut ${s.path} at offset ${s.offset}, dropping ${s.bytes} bytes (the original is at ${s.aside}): ${s.why}\n`;
      if (result.steps.length === 0) text += `${dir}: nothing damaged\n`;
      if (result.markerRemoved) text += 'removed the damage marker\n';
      text += `${key}: the state now recovers to version ${result.version}`;
      text += result.steps.length > 0 ? '; what came after it is only in the files set aside\n' : '\n';
      process.stdout.write(text);
    }
  } finally {
    await lease.release().catch(() => undefined);
    await store.close().catch(() => undefined);
  }
}
