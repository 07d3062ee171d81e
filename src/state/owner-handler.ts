/**
 * Serves the shared state to followers while this instance owns: answers `sync` with the missing changes
 * (or a snapshot), applies `mutate` through OwnerState, broadcasts every committed change in version
 * order, and disconnects a follower that falls too far behind (it resyncs with a snapshot).
 */
import { join } from 'node:path';
import { LeaseholdError } from '../errors.js';
import type { Lease } from '../lease/store.js';
import type { OwnerHandler, Peer } from '../transport/server.js';
import { CloseCode, type Message } from '../transport/protocol.js';
import { Journal } from './journal.js';
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
}

export async function startOwnerState(p: {
  dir: string;
  epoch: number;
  lease: Lease;
  shared: SharedState;
  options: StateOptions;
}): Promise<OwnerHandler & { close(): Promise<void> }> {
  const { epoch, lease, shared } = p;
  const { journal, recovered } = await Journal.open({ dir: p.dir, epoch, guard: () => lease.check() });
  const owner = new OwnerState(journal, recovered, epoch, { maxValueBytes: p.options.maxValueBytes, reducers: p.options.reducers });
  const synced = new Set<Peer>();
  shared.adopt(owner.version, owner.state);
  // Messages to each follower are collected while a group commit resolves and sent as one frame: one
  // flush commits many mutations, and one frame per follower carries all of their changes and acks.
  const outbox = new Map<Peer, Message[]>();
  let scheduled = false;
  const post = (peer: Peer, msg: Message) => {
    const list = outbox.get(peer);
    if (list) list.push(msg);
    else outbox.set(peer, [msg]);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  const flush = () => {
    scheduled = false;
    for (const [peer, items] of outbox) {
      if (peer.bufferedAmount > p.options.maxFollowerBacklogBytes) {
        synced.delete(peer);
        peer.close(CloseCode.TOO_SLOW, 'too far behind: reconnect and resync');
      } else peer.send(items.length === 1 ? items[0]! : { t: 'batch', epoch, items });
    }
    outbox.clear();
  };
  owner.onCommit = (c) => {
    shared.change(c.v, c.m, c.id);
    const msg = { t: 'change', epoch, v: c.v, m: c.m, id: c.id };
    for (const peer of synced) post(peer, msg);
  };
  // A journal that cannot be written: step down, so that the next owner rebuilds from disk.
  owner.onFailure = () => void lease.release();
  // Our own mutations take the same path, locally.
  shared.setRoute({
    // A copy: the owner's document is frozen, and must never share objects the caller may still change.
    send: (seq, m) =>
      void owner.mutate(structuredClone(m), [shared.instanceId, seq]).then(
        (v) => shared.ack(seq, v),
        (err) => {
          // ELOST: this owner lost its lease mid-way; the outcome is unknown, so keep it for the next owner.
          const e = asError(err);
          if (e.code !== 'ELOST') shared.nack(seq, e);
        },
      ),
  });
  return {
    schemas: stateFollowerSchemas,
    onJoin: () => undefined,
    onLeave: (peer) => void synced.delete(peer),
    onMessage: (peer: Peer, msg: Message) => {
      if (msg.t === 'sync') {
        const changes = owner.since(msg.since as number);
        if (changes === undefined) peer.send({ t: 'snapshot', epoch, v: owner.version, state: owner.state });
        else for (const c of changes) peer.send({ t: 'change', epoch, v: c.v, m: c.m, id: c.id });
        peer.send({ t: 'synced', epoch, v: owner.version });
        synced.add(peer);
        return;
      }
      if (msg.t === 'mutate') {
        const seq = msg.seq as number;
        owner.mutate(msg.m as Mutation, [peer.info.instanceId, seq]).then(
          (v) => post(peer, { t: 'ack', epoch, seq, v }),
          (err) => {
            const e = asError(err);
            post(peer, { t: 'nack', epoch, seq, code: e.code, message: e.message.slice(0, 500) });
          },
        );
      }
    },
    close: async () => {
      shared.setRoute(undefined);
      await journal.close();
    },
  };
}

function asError(err: unknown): LeaseholdError {
  return err instanceof LeaseholdError ? err : new LeaseholdError('EIO', String((err as Error)?.message ?? err), { cause: err });
}

export function stateDir(root: string, keySegments: string[]): string {
  return join(root, 'state', ...keySegments);
}
