/**
 * Serves the shared state to followers while this instance owns: answers `sync` with the missing changes
 * (or a snapshot), applies `mutate` through OwnerState, broadcasts every committed change in version
 * order, and disconnects a follower that falls too far behind (it resyncs with a snapshot).
 */
import { join } from 'node:path';
import { LeaseholdError } from '../errors.js';
import type { Lease } from '../lease/store.js';
import type { OwnerHandler, Peer } from '../transport/server.js';
import { CloseCode, encode, type Message } from '../transport/protocol.js';
import { Journal, type JournalFs } from './journal.js';
import { OwnerState } from './owner-state.js';
import type { SharedState } from './shared-state.js';
import { stateFollowerSchemas } from './wire.js';
import type { Reducers } from './reducers.js';
import type { Mutation } from './document.js';

export interface StateOptions {
  /** Largest value in one mutation. @default 256 KiB */
  maxValueBytes: number;
  /** A follower with more than this many bytes unsent is disconnected and resynced. @default 8 MiB */
  maxFollowerBacklogBytes: number;
  reducers?: Reducers;
  /** The journal's file operations (fault injection). @default node:fs */
  journalFs?: JournalFs;
}

export async function startOwnerState(p: {
  dir: string;
  epoch: number;
  lease: Lease;
  shared: SharedState;
  options: StateOptions;
}): Promise<OwnerHandler & { close(): Promise<void> }> {
  const { epoch, lease, shared } = p;
  const { journal, recovered } = await Journal.open({
    dir: p.dir,
    epoch,
    guard: () => lease.check(),
    ...(p.options.journalFs ? { fs: p.options.journalFs } : {}),
  });
  const owner = new OwnerState(journal, recovered, epoch, { maxValueBytes: p.options.maxValueBytes, reducers: p.options.reducers });
  const synced = new Set<Peer>();
  shared.adopt(owner.version, owner.state);
  // Messages to each follower are collected while a group commit resolves and sent as one frame: one
  // flush commits many mutations, and one frame per follower carries all of their changes and acks. Each
  // change is encoded once, whatever the number of followers; only acks and nacks are per follower.
  let changes: string[] = [];
  const own = new Map<Peer, string[]>();
  let scheduled = false;
  // After every promise reaction now queued (process.nextTick runs once the microtask queue is empty): a
  // commit's changes and the acks it resolves go out in one frame per follower, so one wake-up each.
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      process.nextTick(flush);
    }
  };
  const post = (peer: Peer, msg: Message | string) => {
    const list = own.get(peer);
    const data = typeof msg === 'string' ? msg : encode(msg);
    if (list) list.push(data);
    else own.set(peer, [data]);
    schedule();
  };
  const flush = () => {
    scheduled = false;
    const shared = changes.length > 0 ? changes.join(',') : '';
    const count = changes.length;
    changes = [];
    for (const peer of new Set([...synced, ...own.keys()])) {
      const mine = own.get(peer) ?? [];
      const withChanges = count > 0 && synced.has(peer);
      const n = (withChanges ? count : 0) + mine.length;
      if (n === 0) continue;
      if (peer.bufferedAmount > p.options.maxFollowerBacklogBytes) {
        synced.delete(peer);
        peer.close(CloseCode.TOO_SLOW, 'too far behind: reconnect and resync');
        continue;
      }
      const items = withChanges ? (mine.length > 0 ? `${shared},${mine.join(',')}` : shared) : mine.join(',');
      peer.sendRaw(n === 1 ? items : `{"t":"batch","epoch":${epoch},"items":[${items}]}`);
    }
    own.clear();
  };
  owner.onCommit = (c, state) => {
    shared.change(c.v, c.m, c.id, state); // the owner's own replica takes the committed document as it is
    if (synced.size === 0) return;
    changes.push(
      c.json !== undefined
        ? `{"t":"change","epoch":${epoch},"v":${c.v},"m":${c.json},"id":${JSON.stringify(c.id)}}`
        : encode({ t: 'change', epoch, v: c.v, m: c.m, id: c.id }),
    );
    schedule();
  };
  // A journal that cannot be written: step down, so that the next owner rebuilds from disk.
  owner.onFailure = () => void lease.release();
  // Our own mutations take the same path, locally.
  shared.setRoute({
    // A copy: the owner's document is frozen, and must never share objects the caller may still change.
    send: (seq, m, durable) =>
      void owner.mutate(structuredClone(m), [shared.instanceId, seq], { durable }).then(
        (v) => shared.ack(seq, v),
        (err) => {
          // ELOST: this owner lost its lease mid-way; the outcome is unknown, so keep it for the next owner.
          const e = asError(err);
          if (e.code !== 'ELOST') shared.nack(seq, e);
        },
      ),
  });
  const mutate = (peer: Peer, item: MutateItem) => {
    const seq = item.seq;
    owner.mutate(item.m, [peer.info.instanceId, seq], { durable: item.durable !== false }).then(
      (v) => post(peer, `{"t":"ack","epoch":${epoch},"seq":${seq},"v":${v}}`), // seq and v: validated integers
      (err) => {
        const e = asError(err);
        post(peer, { t: 'nack', epoch, seq, code: e.code, message: e.message.slice(0, 500) });
      },
    );
  };
  return {
    schemas: stateFollowerSchemas,
    onJoin: () => undefined,
    onLeave: (peer) => void synced.delete(peer),
    onMessage: (peer: Peer, msg: Message) => {
      if (msg.t === 'sync') {
        // Everything committed so far goes into this answer: send what is pending for the others first,
        // so that the shared changes of the next frame start after it.
        flush();
        const missing = owner.since(msg.since as number, msg.at as [string, number] | null | undefined);
        if (missing === undefined) peer.send({ t: 'snapshot', epoch, v: owner.version, state: owner.state });
        else for (const c of missing) peer.send({ t: 'change', epoch, v: c.v, m: c.m, id: c.id });
        peer.send({ t: 'synced', epoch, v: owner.version });
        synced.add(peer);
        return;
      }
      if (msg.t === 'mutate') return mutate(peer, msg as unknown as MutateItem);
      if (msg.t === 'mutates') for (const item of msg.items as MutateItem[]) mutate(peer, item);
    },
    close: async () => {
      shared.setRoute(undefined);
      await journal.close();
    },
  };
}

type MutateItem = { seq: number; m: Mutation; durable?: false };

function asError(err: unknown): LeaseholdError {
  return err instanceof LeaseholdError ? err : new LeaseholdError('EIO', String((err as Error)?.message ?? err), { cause: err });
}

export function stateDir(root: string, keySegments: string[]): string {
  return join(root, 'state', ...keySegments);
}
