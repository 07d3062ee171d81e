/**
 * `npm run chaos`: the shared-state chaos scenario at length (LEASEHOLD_CHAOS_ROUNDS, default 40 fault
 * rounds). See state-failover.ts.
 */
import { describe, it } from 'node:test';
import { stateFailoverChaos } from './state-failover.js';

describe('shared state under failover (long)', () => {
  it('keeps every acknowledged mutation exactly once through kills, stops and handovers', () =>
    stateFailoverChaos(Number(process.env.LEASEHOLD_CHAOS_ROUNDS ?? 40)));
});
