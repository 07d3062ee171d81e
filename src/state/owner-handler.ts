/**
 * Serves the shared state to followers while this instance owns: answers `sync` with the missing changes
 * (or a snapshot streamed in parts: snapshot-stream.ts), applies `mutate` through OwnerState, broadcasts
 * every committed change in version order, and disconnects a follower that falls too far behind (it
 * resyncs with a snapshot).
 *
 * Answering a `sync` (a follower "joining") goes on over many turns of the loop, while commits go on:
 *  1. the snapshot, if the follower needs one (the document at version V is immutable);
 *  2. the changes committed since what was sent (OwnerState.since), a `changes` message at a time, each
 *     sent only once the socket has room (a large backlog is neither built nor buffered at once), again
 *     until nothing is left (if the changes after a snapshot are no longer kept: a newer snapshot, at most
 *     MAX_SNAPSHOTS_PER_SYNC in all, then the follower is closed as too slow);
 *  3. `synced`, and from then on the follower gets every commit's changes with everyone else.
 * Until 3 nothing else of the state goes to that follower: its acks and nacks wait and follow `synced`,
 * so a mutation is never acknowledged before the follower has its change.
 *
 * Nothing leaves for a follower unless the lease check passes just before (one check per frame); a
 * follower message naming another epoch than this owner's never gets here (the server refuses it with 4004
 * or 4000). The moment the lease is lost this instance's own mutations stop coming here: they stay
 * pending for the next owner.
 */
import { join } from 'node:path';
import { nextTurn, systemClock, type Clock } from '../clock.js';
import { asLeaseholdError } from '../errors.js';
import { debug } from '../debug.js';
import type { Lease } from '../lease/store.js';
import type { OwnerHandler, Peer } from '../transport/server.js';
import { CloseCode } from '../transport/protocol.js';
import { unreachable, type ToFollowerFrame } from '../transport/codec/fields.js';
import type { MutateItem, StateToOwner } from '../transport/codec/to-owner.js';
import { acksFrame, batchFrame, changesFrame, encode, type Nack } from '../transport/codec/to-follower.js';
import { Journal, type JournalFs } from './journal/index.js';
import { OwnerState, type Committed } from './owner-state.js';
import { replicaOf, type Route, type SharedState } from './shared-state.js';
import { roomFor, SnapshotStreams } from './snapshot-stream.js';
import type { Reducers } from './reducers.js';
import type { Json } from './document.js';
import type { StateCheck } from './schema.js';
import { isOutdated, outdatedState, type StateVersioning } from './migrations.js';
import { view } from './wide-object.js';

export interface StateOptions {
  /** Largest value in one mutation. @default 256 KiB */
  maxValueBytes: number;
  /** A follower with more than this many bytes unsent is disconnected and resynced. @default 8 MiB */
  maxFollowerBacklogBytes: number;
  /** Entries between snapshots. @default 10000 */
  snapshotEvery?: number;
  reducers?: Reducers;
  /** Top-level keys a new owner sets where absent (JoinOptions.defaults). */
  defaults?: { [k: string]: Json };
  /** The app's schema, compiled (schema.ts). */
  check?: StateCheck;
  /** The code's state version and migrations (migrations.ts). @default none: any stored version is served */
  versioning?: StateVersioning;
  /** The journal's file operations (fault injection). @default node:fs */
  journalFs?: JournalFs;
}

export async function startOwnerState(p: {
  dir: string;
  /** Trusted directory above `dir`: the directories in between are checked (see Journal's `base`). */
  base?: string;
  epoch: number;
  lease: Lease;
  shared: SharedState;
  options: StateOptions;
  /** @default systemClock */
  clock?: Clock;
  /** Reports what goes wrong without stopping the owner (defaults the schema refuses). */
  onError?: (err: unknown) => void;
}): Promise<OwnerHandler & { close(): Promise<void>; readonly streams: SnapshotStreams; readonly stateVersion: number }> {
  const { epoch, lease } = p;
  const shared = replicaOf(p.shared);
  const started = systemClock.now();
  const versioning = p.options.versioning ?? { stateVersion: undefined, migrations: [] };
  // A follower taking over holds the state already: when the journal proves its replica is this history at
  // its version (recovery.ts, step 7), the snapshot's state is not read and only newer entries are applied.
  const id = shared.lastId;
  const base = id ? { version: shared.version, id, state: shared.state } : undefined;
  const { journal, recovered } = await Journal.open({
    dir: p.dir,
    ...(p.base !== undefined ? { base: p.base } : {}),
    epoch,
    guard: () => lease.check(),
    ...(p.options.journalFs ? { fs: p.options.journalFs } : {}),
    ...(p.options.snapshotEvery !== undefined ? { partMaxEntries: p.options.snapshotEvery } : {}),
    ...(base ? { replica: { version: base.version, id: base.id } } : {}),
    // A state newer than this code is left exactly as it is: not even a torn tail is cut.
    accept: (r) => {
      const own = versioning.stateVersion;
      if (isOutdated(r.stateVersion, own)) throw outdatedState(r.stateVersion, own!, `the state in ${p.dir}`);
    },
  });
  const opened = systemClock.now();
  const owner = new OwnerState(journal, recovered, epoch, {
    guard: () => lease.check(),
    maxValueBytes: p.options.maxValueBytes,
    reducers: p.options.reducers,
    ...(p.options.check ? { check: p.options.check } : {}),
    ...(p.clock ? { clock: p.clock } : {}),
    ...(p.options.snapshotEvery !== undefined ? { compactEvery: p.options.snapshotEvery } : {}),
    ...(recovered.fromReplica !== undefined ? { replica: base!.state } : {}),
  });
  debug(
    `epoch ${epoch}: journal opened in ${(opened - started).toFixed(1)} ms (snapshot ${recovered.snapshot?.version ?? 0}, ` +
      (recovered.fromReplica !== undefined ? `from the replica at ${recovered.fromReplica}, ` : '') +
      `${recovered.entries.length} entries), replayed in ${(systemClock.now() - opened).toFixed(1)} ms`,
  );
  try {
    await owner.migrate(versioning);
  } catch (err) {
    await journal.close().catch(() => undefined);
    throw err;
  }
  await applyDefaults(owner, p.options.defaults, p.onError);
  const clock = p.clock ?? systemClock;
  const synced = new Set<Peer>();
  /** Followers whose `sync` is being answered, each with the token of its latest one. */
  const joining = new Map<Peer, object>();
  const streams = new SnapshotStreams({ epoch, clock, guard: () => lease.check() });
  shared.adopt(owner.version, owner.state, owner.lastId);
  // Messages to each follower are collected while a group commit resolves and sent as one frame: one
  // flush commits many mutations, and one frame per follower carries all of their changes and acks. Each
  // change is encoded once, whatever the number of followers; only acks and nacks are per follower. The
  // changes go as one `changes` message and runs of acks as `acks` (arrays parse in half the time of one
  // object each).
  let first = 0; // the version of the first change collected
  let ms: string[] = []; // each change's mutation, as JSON
  let ids: string[] = []; // and its id
  const own = new Map<Peer, Outgoing>();
  let scheduled = false;
  // After every promise reaction now queued (process.nextTick runs once the microtask queue is empty): a
  // commit's changes and the acks it resolves go out in one frame per follower, so one wake-up each.
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      process.nextTick(flush);
    }
  };
  const outgoing = (peer: Peer): Outgoing => {
    let o = own.get(peer);
    if (!o) own.set(peer, (o = { parts: [], seqs: [], vs: [] }));
    schedule();
    return o;
  };
  const ack = (peer: Peer, seq: number, v: number) => {
    const o = outgoing(peer);
    o.seqs.push(seq);
    o.vs.push(v);
  };
  const post = (peer: Peer, msg: Nack) => {
    const o = outgoing(peer);
    endAcks(o); // in order with the acks before it
    o.parts.push(encode(msg));
  };
  const endAcks = (o: Outgoing) => {
    if (o.seqs.length === 0) return;
    o.parts.push(acksFrame(epoch, o.seqs, o.vs));
    o.seqs = [];
    o.vs = [];
  };
  const flush = () => {
    scheduled = false;
    try {
      lease.check();
    } catch {
      // Not the owner any more: nothing more goes out (the server is closing). Followers keep what was not
      // acknowledged for the next owner, and catch up from it.
      ms = [];
      ids = [];
      own.clear();
      return;
    }
    const count = ms.length;
    let changes: ToFollowerFrame | undefined; // made for the first follower that takes them, shared by the rest
    for (const peer of new Set([...synced, ...own.keys()])) {
      if (joining.has(peer)) continue; // its acks and nacks wait for its `synced` (they may name versions it lacks)
      const mine = own.get(peer);
      if (mine) endAcks(mine);
      const parts = mine?.parts ?? [];
      const withChanges = count > 0 && synced.has(peer);
      if (!withChanges && parts.length === 0) continue;
      if (peer.bufferedAmount > p.options.maxFollowerBacklogBytes) {
        synced.delete(peer);
        peer.close(CloseCode.TOO_SLOW, 'too far behind: reconnect and resync');
        continue;
      }
      const items = withChanges ? [(changes ??= changesFrame(epoch, first, ms, ids)), ...parts] : parts;
      peer.sendRaw(items.length === 1 ? items[0]! : batchFrame(epoch, items));
    }
    ms = [];
    ids = [];
    for (const peer of own.keys()) if (!joining.has(peer)) own.delete(peer);
  };
  /** True while `token` is `peer`'s latest sync, still being answered, and this owner may send. */
  const answering = (peer: Peer, token: object): boolean => {
    if (joining.get(peer) !== token) return false;
    try {
      lease.check();
      return true;
    } catch {
      return false; // stepping down: the lease's `lost` handler ends every answer
    }
  };
  /** `missing`, a `changes` message at a time, each once there is room; false if the answer stopped. */
  const sendChanges = async (peer: Peer, token: object, missing: readonly Committed[]): Promise<boolean> => {
    for (const frame of catchUpMessages(epoch, missing)) {
      if (!(await roomFor(peer, clock, () => joining.get(peer) !== token)) || !answering(peer, token)) return false;
      peer.sendRaw(frame);
      await nextTurn(); // the next message is made in another turn: others are served in between
    }
    return true;
  };
  /** Answers `sync` (steps 1–3 above). */
  const answerSync = async (peer: Peer, since: number, at: [string, number] | null | undefined) => {
    const token = {};
    joining.set(peer, token);
    synced.delete(peer);
    streams.cancel(peer); // an earlier answer's stream
    // Everything committed so far goes into this answer: send what is pending for the others first, so
    // that the changes of their next frame start after it.
    flush();
    let missing = owner.since(since, at);
    let v = since;
    for (let snapshots = 0; missing === undefined || missing.length > 0;) {
      if (missing === undefined) {
        if (++snapshots > MAX_SNAPSHOTS_PER_SYNC) return giveUp(peer, token);
        // The committed state: a non-durable change applied but not yet written is lost if this owner
        // crashes, and a replica holding it would differ from the next owner's history at that version.
        const { version, state, lastId } = owner.committed;
        const sent = await streams.send(peer, version, state, lastId);
        if (sent === undefined) return giveUp(peer, token);
        v = sent;
      } else {
        if (!(await sendChanges(peer, token, missing))) return giveUp(peer, token);
        v = missing[missing.length - 1]!.v;
      }
      flush();
      missing = owner.since(v);
    }
    // From the last since() on, synchronously: no commit can come between it and the follower joining
    // the others (the next flush sends it every commit from here, then its waiting acks).
    if (!answering(peer, token)) return;
    peer.send({ t: 'synced', epoch, v });
    joining.delete(peer);
    synced.add(peer);
    if (own.has(peer)) schedule();
  };
  /**
   * An answer that stopped: nothing to do if a newer sync, the follower's leaving or the owner's stepping
   * down stopped it; otherwise (too slow, or too many snapshots) the follower is closed and resyncs.
   */
  const giveUp = (peer: Peer, token: object) => {
    if (!answering(peer, token)) return;
    joining.delete(peer);
    own.delete(peer);
    peer.close(CloseCode.TOO_SLOW, 'too far behind: reconnect and resync');
  };
  /** Ends every answer under way (the owner steps down or closes). */
  const endAnswers = () => {
    joining.clear();
    streams.cancelAll();
  };
  owner.onCommit = (c, state) => {
    shared.change(c.v, c.m, c.id, state); // the owner's own replica takes the committed document as it is
    if (synced.size === 0) return;
    if (ms.length === 0) first = c.v;
    ms.push(c.json ?? JSON.stringify(c.m));
    ids.push(JSON.stringify(c.id));
    schedule();
  };
  // A journal that cannot be written: step down, so that the next owner rebuilds from disk.
  owner.onFailure = () => void lease.release();
  // Our own mutations take the same path, locally.
  const route: Route = {
    // A copy: the owner's document is frozen, and must never share objects the caller may still change.
    send: (seq, m, durable) =>
      void owner.mutate(structuredClone(m), [p.shared.instanceId, seq], { durable }).then(
        (v) => shared.ack(seq, v, route),
        (err) => {
          // ELOST: this owner lost its lease mid-way; the outcome is unknown, so keep it for the next owner.
          const e = asLeaseholdError(err);
          if (e.code !== 'ELOST') shared.nack(seq, e);
        },
      ),
  };
  // Synchronously, when the lease ends (a failed check, a timer, a newer epoch seen): from then on our own
  // mutations wait for the next owner, even while this one's server is still closing.
  const leave = () => {
    shared.leave(route);
    endAnswers();
  };
  lease.lost.addEventListener('abort', leave, { once: true });
  shared.setRoute(route);
  const mutate = (peer: Peer, item: MutateItem) => {
    const seq = item.seq;
    owner.mutate(item.m, [peer.info.instanceId, seq], { durable: item.durable !== false }).then(
      (v) => ack(peer, seq, v),
      (err) => {
        const e = asLeaseholdError(err);
        post(peer, { t: 'nack', epoch, seq, code: e.code, message: e.message.slice(0, 500) });
      },
    );
  };
  return {
    onJoin: () => undefined,
    onLeave: (peer) => {
      synced.delete(peer);
      joining.delete(peer);
      own.delete(peer);
      streams.cancel(peer);
    },
    onMessage: (peer: Peer, msg: StateToOwner) => {
      // (The server refused any message naming another epoch than this owner's.)
      switch (msg.t) {
        case 'sync':
          return void answerSync(peer, msg.since, msg.at);
        case 'mutate':
          return mutate(peer, msg);
        case 'mutates':
          for (const item of msg.items) mutate(peer, item);
          return;
        default:
          return unreachable(msg);
      }
    },
    close: async () => {
      lease.lost.removeEventListener('abort', leave);
      leave();
      await journal.close();
    },
    streams,
    stateVersion: owner.stateVersion, // migrations run only before serving: fixed from here on
  };
}

/**
 * Sets the default top-level keys the state lacks, in one batch (journaled like any mutation). A state
 * whose root is not an object has no keys to default. A batch the schema refuses is reported, not fatal:
 * the owner serves the state as it is (failing here would only pass the same failure to the next owner).
 */
async function applyDefaults(
  owner: OwnerState,
  defaults: { [k: string]: Json } | undefined,
  onError?: (err: unknown) => void,
): Promise<void> {
  if (!defaults) return; // before the view: it is built for nothing at every takeover otherwise
  const root = view(owner.state);
  if (root === null || typeof root !== 'object' || Array.isArray(root)) return;
  const ops = Object.entries(defaults)
    .filter(([k]) => !Object.prototype.hasOwnProperty.call(root, k))
    .map(([k, value]) => ({ op: 'set' as const, path: k, value: structuredClone(value) }));
  if (ops.length === 0) return;
  try {
    await owner.mutate({ op: 'batch', ops }, null);
  } catch (err) {
    onError?.(err);
  }
}

/** A joining follower gets at most this many snapshots for one `sync` (see step 2 above). */
const MAX_SNAPSHOTS_PER_SYNC = 3;

/** When a follower catches up: at most this many changes in one `changes` message… */
const CATCH_UP_CHANGES = 1000;
/** …and about this many characters of mutations (one frame stays far below the follower's limit). */
const CATCH_UP_BYTES = 1 << 20;

/**
 * A follower's missing changes as `changes` messages, in order, each made only when the caller asks for
 * it: each holds at most CATCH_UP_CHANGES changes or about CATCH_UP_BYTES characters of mutations.
 */
export function* catchUpMessages(epoch: number, missing: readonly Committed[]): Generator<ToFollowerFrame> {
  let first = 0;
  let bytes = 0;
  let ms: string[] = [];
  let ids: string[] = [];
  for (const c of missing) {
    const m = c.json ?? JSON.stringify(c.m);
    ms.push(m);
    ids.push(JSON.stringify(c.id));
    bytes += m.length;
    if (ms.length >= CATCH_UP_CHANGES || bytes >= CATCH_UP_BYTES || first + ms.length === missing.length) {
      yield changesFrame(epoch, missing[first]!.v, ms, ids);
      first += ms.length;
      ms = [];
      ids = [];
      bytes = 0;
    }
  }
}

/** What one follower gets at the next flush: messages in order, and the run of acks after them. */
type Outgoing = { parts: ToFollowerFrame[]; seqs: number[]; vs: number[] };

export function stateDir(root: string, keySegments: string[]): string {
  return join(root, 'state', ...keySegments);
}
