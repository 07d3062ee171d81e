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
 *   {"op":"fault","kind":"pause-at","point":P}     the next time this process's journal reaches point P,
 *                                                  it prints {"event":"paused","point":P} and stops
 *                                                  itself (SIGSTOP), right there: the harness then kills
 *                                                  it or lets a successor take over before SIGCONT.
 *                                                  ("point":null disarms it.)
 *                                                  Points (each seen through the journal's file calls):
 *       snapshot-written   a snapshot's temp file is written and synced and the lease checked; it is not
 *                          named yet (before the rename)
 *       snapshot-deleting  a snapshot is named and durable; the files it covers are not deleted yet
 *                          (before the first deletion)
 *       rotation           a group passed the lease check and goes into a new part (not an epoch's
 *                          first), which is not created yet
 *       rotation-created   that new part was just created, empty; its begin record and first group are
 *                          not written yet
 *
 * Each answers {"event":"fault","kind":…,"role":…,"applied":true|false} (false: nothing to apply it to,
 * such as drop-link on a follower that is not connected, or an unknown pause point). Nothing here changes
 * what a process without LEASEHOLD_FAULTS=1 does; the pause points are recognized by the names the
 * journal gives its files (layout.ts), so the journal itself carries no hook.
 */
import * as nodeFs from 'node:fs';
import { basename } from 'node:path';
import { systemClock, type Clock, type Timer } from '../clock.js';
import type { Instance } from '../instance/instance.js';
import { internals } from '../internals.js';
import { parsePartName, parseSnapshotName, type JournalFs } from '../state/journal/index.js';

export const faultsEnabled = (): boolean => process.env.LEASEHOLD_FAULTS === '1';

/** The moments of the owner's journal that `pause-at` can stop a process at (see the header). */
export const PAUSE_POINTS = ['snapshot-written', 'snapshot-deleting', 'rotation', 'rotation-created'] as const;
export type PausePoint = (typeof PAUSE_POINTS)[number];

export interface FaultKit {
  clock: Clock;
  journalFs: JournalFs;
  /** `point`: for pause-at. */
  apply(instance: Instance, kind: unknown, ms: number, point?: unknown): boolean;
}

export interface PauseHooks {
  /** Prints the `paused` line; it must be written out before this returns (the process stops next). */
  announce(line: Record<string, unknown>): void;
  /** Stops the process where it stands. @default SIGSTOP to itself */
  stop(): void;
}

const stopSelf = (): void => void process.kill(process.pid, 'SIGSTOP');

export function createFaultKit(base: Clock = systemClock, hooks: Partial<PauseHooks> = {}): FaultKit {
  let wallOffset = 0;
  let fullUntil = 0;
  let stalledUntil = 0;
  let pauseAt: PausePoint | undefined;
  /** A snapshot was named since pause-at was armed: its deletions are the next ones. */
  let snapshotNamed = false;
  const reached = (point: PausePoint): void => {
    if (pauseAt !== point) return;
    pauseAt = undefined;
    hooks.announce?.({ event: 'paused', point });
    (hooks.stop ?? stopSelf)();
  };
  const journalFile = (path: nodeFs.PathLike) => {
    const name = basename(String(path));
    return { part: parsePartName(name), snapshot: parseSnapshotName(name) };
  };
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
    renameSync: ((from: nodeFs.PathLike, to: nodeFs.PathLike) => {
      const isSnapshot = journalFile(to).snapshot !== undefined;
      if (isSnapshot) reached('snapshot-written');
      nodeFs.renameSync(from, to);
      if (isSnapshot) snapshotNamed = true;
    }) as typeof nodeFs.renameSync,
    openSync: ((path: nodeFs.PathLike, flags: nodeFs.OpenMode = 'r', mode?: nodeFs.Mode) => {
      const part = journalFile(path).part;
      const rotation = part !== undefined && part.part > 0 && typeof flags === 'number' && (flags & nodeFs.constants.O_CREAT) !== 0;
      if (rotation) reached('rotation');
      const fd = nodeFs.openSync(path, flags, mode);
      if (rotation) reached('rotation-created');
      return fd;
    }) as typeof nodeFs.openSync,
    unlink: ((path: nodeFs.PathLike, callback: nodeFs.NoParamCallback) => {
      const file = journalFile(path);
      if (snapshotNamed && (file.part || file.snapshot !== undefined)) reached('snapshot-deleting');
      nodeFs.unlink(path, callback);
    }) as typeof nodeFs.unlink,
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
    apply(instance, kind, ms, point) {
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
        case 'pause-at':
          if (point !== null && !PAUSE_POINTS.includes(point as PausePoint)) return false;
          pauseAt = (point ?? undefined) as PausePoint | undefined;
          snapshotNamed = false;
          return true;
        default:
          return false;
      }
    },
  };
}
