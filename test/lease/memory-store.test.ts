import { FakeClock } from '../../src/clock.js';
import { MemoryLeaseStore } from '../../src/lease/memory-store.js';
import type { HeldLease } from '../../src/lease/held-lease.js';
import type { LeaseStore } from '../../src/lease/store.js';
import { leaseContract } from './contract.js';
import { PausableClock } from '../helpers.js';

leaseContract('MemoryLeaseStore on a FakeClock', async () => {
  const clock = new FakeClock();
  const first = new MemoryLeaseStore({ clock, pollIntervalMs: 10 });
  const clocks = new Map<LeaseStore, PausableClock>();
  return {
    clock,
    store: () => {
      const c = new PausableClock(clock);
      const s = new MemoryLeaseStore({ clock: c, sharedWith: first, pollIntervalMs: 10 });
      clocks.set(s, c);
      return s;
    },
    advance: (ms) => clock.advance(ms),
    hang: (s) => clocks.get(s)!.pause(),
    resume: (s) => clocks.get(s)!.resume(),
    jumpWall: (ms) => clock.jumpWall(ms),
    crash: async (lease) => {
      first.simulateCrash(lease.instanceId);
      (lease as HeldLease).abandon('closed');
    },
    deleteRecord: async (key) => first.deleteRecord(key),
    writeRecordUnsafely: async (record) => first.writeRecordUnsafely(record),
    corruptRecord: async (key) => first.corruptRecord(key),
    dispose: async () => {},
  };
});
