/**
 * The file store under real processes and seeded faults (lease-stress.ts): never two holders, epochs rise,
 * a stopped holder learns it lost. Replay a failure with LEASEHOLD_SEED=<seed>.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FileLeaseStore } from '../../src/lease/file-store.js';
import { tempRoot } from '../helpers.js';
import { runLeaseStress } from './lease-stress.js';

describe('lease under real processes', () => {
  it('never has two holders, epochs rise, and a stopped holder learns it lost', async () => {
    const root = await tempRoot();
    const observer = new FileLeaseStore({ dataRoot: root.dir });
    try {
      const r = await runLeaseStress({ where: root.dir, observer, key: '/app/stress/owner', ttlMs: 300, holdMs: 80, rounds: 36 });
      const faults = r.counts.kill! + r.counts.stop! + r.counts.release!;
      assert.equal(r.violations.length, 0, `seed ${r.seed}: ${r.violations.length} violations\n${r.report}`);
      assert.ok(r.acquisitions >= 20, `seed ${r.seed}: only ${r.acquisitions} acquisitions (${JSON.stringify(r.counts)})`);
      assert.ok(faults >= 20, `seed ${r.seed}: too few faults injected ${JSON.stringify(r.counts)}`);
      console.log(`# lease stress seed ${r.seed}: ${r.acquisitions} acquisitions, faults ${JSON.stringify(r.counts)}, 0 violations`);
    } finally {
      await observer.close();
      await root.remove();
    }
  });
});
