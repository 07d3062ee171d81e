/**
 * `leasehold/testing`: fakes for your own tests.
 *
 * - {@link FakeClock}: time that moves only when you advance it.
 * - {@link MemoryLeaseStore}: the full lease contract in memory, on any clock.
 */
export { FakeClock } from './clock.js';
export { MemoryLeaseStore, type MemoryLeaseStoreOptions } from './lease/memory-store.js';
