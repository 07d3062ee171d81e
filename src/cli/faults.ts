/**
 * Fault injection for chaos tests, enabled only with LEASEHOLD_FAULTS=1 in the environment of
 * `leasehold instance` (without it, `fault` commands are refused as unknown). One command per fault:
 *
 *   {"op":"fault","kind":"drop-link"}              a follower cuts its socket to the owner (no close frame);
 *                                                  an owner cuts every follower's socket
 *   {"op":"fault","kind":"stall-link","ms":N}      a follower stops reading from the owner for N ms
 *   {"op":"fault","kind":"clock-jump","ms":N}      this process's wall clock jumps by N ms (negative: back)
 *   {"op":"fault","kind":"disk-full","ms":N}       the journal's writes fail with ENOSPC for N ms
 *   {"op":"fault","kind":"stall-snapshot","ms":N}  the snapshot's writes (the only ones made in the thread
 *                                                  pool) started in the next N ms wait until then: the
 *                                                  owner stays inside compaction, serving meanwhile
 *
 * Each answers {"event":"fault","kind":…,"role":…,"applied":true|false} (false: nothing to apply it to,
 * such as drop-link on a follower that is not connected). Nothing here changes what a process without
 * LEASEHOLD_FAULTS=1 does.
 */
import * as nodeFs from 'node:fs';
import { systemClock, type Clock, type Timer } from '../clock.js';
import type { Instance } from '../instance/instance.js';
import { internals } from '../internals.js';
import type { JournalFs } from '../state/journal/index.js';

export const faultsEnabled = (): boolean => process.env.LEASEHOLD_FAULTS === '1';

export interface FaultKit {
  clock: Clock;
  journalFs: JournalFs;
  apply(instance: Instance, kind: unknown, ms: number): boolean;
}

export function createFaultKit(base: Clock = systemClock): FaultKit {
  let wallOffset = 0;
  let fullUntil = 0;
  let stalledUntil = 0;
  const clock: Clock = {
    now: () => base.now(),
    wallNow: () => base.wallNow() + wallOffset,
    setTimeout: (fn: () => void, ms: number): Timer => base.setTimeout(fn, ms),
  };
  const full = () => base.now() < fullUntil;
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write (injected)'), { code: 'ENOSPC', errno: -28 });
  const journalFs: JournalFs = {
    ...nodeFs,
    writeSync: ((...args: Parameters<typeof nodeFs.writeSync>) => {
      if (full()) throw enospc();
      return (nodeFs.writeSync as (...a: unknown[]) => number)(...args);
    }) as typeof nodeFs.writeSync,
    write: ((...args: unknown[]) => {
      const write = () => (nodeFs.write as (...a: unknown[]) => void)(...args);
      const wait = stalledUntil - base.now();
      if (wait > 0) base.setTimeout(write, wait);
      else write();
    }) as typeof nodeFs.write,
  };
  return {
    clock,
    journalFs,
    apply(instance, kind, ms) {
      switch (kind) {
        case 'drop-link': {
          const { link, server } = internals(instance);
          if (link) {
            link.drop();
            return true;
          }
          return server ? server.dropAll() > 0 : false;
        }
        case 'stall-link': {
          const { link } = internals(instance);
          if (!link) return false;
          link.stall(ms);
          return true;
        }
        case 'clock-jump':
          wallOffset += ms;
          return true;
        case 'disk-full':
          fullUntil = base.now() + ms;
          return true;
        case 'stall-snapshot':
          stalledUntil = base.now() + ms;
          return true;
        default:
          return false;
      }
    },
  };
}
