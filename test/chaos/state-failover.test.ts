/** Short seeded runs of the shared-state chaos scenario inside `npm test` (see state-failover.ts). */
import { describe, it } from 'node:test';
import { stateFailoverChaos } from './state-failover.js';

describe('shared state under failover', () => {
  it('keeps every acknowledged mutation exactly once through kills, stops and handovers', () => stateFailoverChaos(6));

  it('keeps it through owners killed or stopped mid-snapshot, mid-deletion and mid-rotation', () =>
    stateFailoverChaos(8, { journalRoundsOnly: true }));
});
