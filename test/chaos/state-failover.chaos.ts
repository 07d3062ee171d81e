/**
 * `npm run chaos`: the shared-state chaos scenario at length (LEASEHOLD_CHAOS_ROUNDS, default 40 fault
 * rounds, a fifth of them journal rounds), then journal rounds only (LEASEHOLD_CHAOS_JOURNAL_ROUNDS,
 * default 32: each journal point with each signal four times). See state-failover.ts.
 */
import { describe, it } from 'node:test';
import { stateFailoverChaos } from './state-failover.js';

describe('shared state under failover (long)', () => {
  it('keeps every acknowledged mutation exactly once through kills, stops and handovers', () =>
    stateFailoverChaos(Number(process.env.LEASEHOLD_CHAOS_ROUNDS ?? 40)));

  it('keeps it through owners killed or stopped mid-snapshot, mid-deletion and mid-rotation', () =>
    stateFailoverChaos(Number(process.env.LEASEHOLD_CHAOS_JOURNAL_ROUNDS ?? 32), { journalRoundsOnly: true }));
});
