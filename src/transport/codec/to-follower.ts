/**
 * Owner → follower: every frame an owner sends, as one typed union, with the one decoder a follower runs on
 * each frame and the encoders an owner sends with (see protocol.ts for the connection and close codes).
 *
 *   {"t":"welcome","v":1,"proof":P,"epoch":E,"ownerId":…,"instances":[…],"maxPayload":N,"sv":S,"holder":{…}}
 *                      the answer to hello; v: PROTOCOL_VERSION; P: HMAC-SHA256(secret, the hello's nonce);
 *                      S: the state's version; N: the largest frame the owner accepts; holder: its lease
 *                      record without secrets (absent from a server given none), so that a follower welcomed
 *                      over a standby link after a handover need not read the record from disk
 *   {"t":"presence","epoch":E,"instances":[…]}          whenever instances join or leave
 *   {"t":"standby-request","epoch":E}                   to the designated successor only: listen, say where
 *   {"t":"successor","epoch":E,"instanceId":…,"endpoint":…,"secret":…}   to the others: connect there now
 *   {"t":"leaving","epoch":E,"successor":id|null}       graceful handover (then close 4005)
 *   {"t":"snapshot-part","epoch":E,"v":V,"i":I,"text":"…"}   the document at version V as JSON text, a part
 *                      at a time: I = 0, 1, 2, … in order, each text 1 to SNAPSHOT_PART_CHARS characters (a
 *                      frame stays below 1 MiB), cut anywhere (the follower joins them)
 *   {"t":"snapshot-end","epoch":E,"v":V,"parts":N,"chars":C,"at":id}   the last of the N parts of V was
 *                      sent (C characters in all): the follower parses the text and replaces its replica;
 *                      at: the id of change V, when the owner knows it (so the replica's history can be
 *                      checked later: a resync, a takeover)
 *   {"t":"changes","epoch":E,"v":V,"ms":[m,…],"ids":[id,…]}   the committed changes V, V+1, … in order;
 *                      id: [instanceId, seq] of the mutation's sender, or null
 *   {"t":"acks","epoch":E,"seqs":[N,…],"vs":[V,…]}      the sender's mutations N were applied at V (and
 *                      flushed, unless sent with durable:false)
 *   {"t":"nack","epoch":E,"seq":N,"code":"E…","message":"…"}   refused; the state is unchanged
 *   {"t":"synced","epoch":E,"v":V}                      the answer to sync is complete
 *   {"t":"batch","epoch":E,"items":[…]}                 `changes`, `acks` and `nack` messages of one group
 *                      commit, in order, each of the batch's epoch
 *   {"t":"reply","epoch":E,"id":N,"value":…}            the handler's answer to the follower's request N
 *   {"t":"reply","epoch":E,"id":N,"code":"E…","message":"…"}   its failure (ENOHANDLER, EHANDLER, or the
 *                      handler's own code)
 *
 * The answer to `sync`, in this order: either the changes after `since`, or a snapshot (`snapshot-part`…,
 * `snapshot-end`) then the changes committed after its version while it was sent; then `synced` with the
 * version the follower is at. A snapshot's parts are never interleaved with anything else of the state (no
 * changes, acks or nack before its end; presence, standby-request and successor may come between). A
 * follower refuses a stream that breaks this (parts out of order, another version, an end that does not
 * match, text that is not JSON) with 4000; one whose text would exceed its limit with 1009
 * (state/snapshot-assembly.ts). The owner closes a follower that leaves its socket full too long, or would
 * need too many snapshots for one sync, with 4006 (too slow: it reconnects and resyncs).
 *
 * `decode` checks every field, and the relations between them: as many ids as changes, as many versions as
 * acks, a batch's items of its own epoch. The fast paths (changesFrame, acksFrame, batchFrame,
 * snapshotPartFrame, snapshotEndFrame) give exactly what `encode` gives (test/transport/codec/).
 */
import type { Json } from '../../state/json.js';
import { recordProblem, type LeaseRecord } from '../../lease/record.js';
import type { InstanceInfo } from '../protocol.js';
import { decodeFrame, is, isId, matches, type DecodeError, type Id, type Shapes, type ToFollowerFrame } from './fields.js';

/**
 * The most characters of JSON text in one `snapshot-part`: a frame is then at most about 3 × this many bytes
 * (UTF-8, quotes escaped), below 1 MiB, whatever the follower's `maxPayload`.
 */
export const SNAPSHOT_PART_CHARS = 1 << 18;
/** The most changes, or acks, in one message (far above what one group commit or catch-up message holds). */
const MAX_ITEMS = 1_000_000;

export interface Welcome {
  t: 'welcome';
  v: number;
  /** HMAC-SHA256(secret, the hello's nonce): the owner holds the secret (secret.ts). */
  proof: string;
  epoch: number;
  ownerId: string;
  instances: InstanceInfo[];
  /** The largest frame the owner accepts. */
  maxPayload: number;
  /** The served state's version (state/migrations.ts): a follower whose code is older stops (EOUTDATED). */
  sv: number;
  /** The owner's lease record as it last wrote it, without secrets. */
  holder?: LeaseRecord;
}
export interface Presence {
  t: 'presence';
  epoch: number;
  instances: InstanceInfo[];
}
export interface StandbyRequest {
  t: 'standby-request';
  epoch: number;
}
export interface Successor {
  t: 'successor';
  epoch: number;
  instanceId: string;
  endpoint: string;
  secret: string;
}
export interface Leaving {
  t: 'leaving';
  epoch: number;
  successor: string | null;
}
export interface SnapshotPart {
  t: 'snapshot-part';
  epoch: number;
  v: number;
  i: number;
  text: string;
}
export interface SnapshotEnd {
  t: 'snapshot-end';
  epoch: number;
  v: number;
  parts: number;
  chars: number;
  at?: Id;
}
export interface Changes {
  t: 'changes';
  epoch: number;
  v: number;
  ms: Json[];
  ids: Id[];
}
export interface Acks {
  t: 'acks';
  epoch: number;
  seqs: number[];
  vs: number[];
}
export interface Nack {
  t: 'nack';
  epoch: number;
  seq: number;
  code: string;
  message: string;
}
export interface Synced {
  t: 'synced';
  epoch: number;
  v: number;
}
/** What one group commit leaves for a follower in one frame. */
export type BatchItem = Changes | Acks | Nack;
export interface Batch {
  t: 'batch';
  epoch: number;
  items: BatchItem[];
}

/** The answer to a request: `value`, or `code` and `message`. */
export interface Reply {
  t: 'reply';
  epoch: number;
  id: number;
  value?: Json;
  code?: string;
  message?: string;
}

export type ToFollower =
  | Welcome
  | Presence
  | StandbyRequest
  | Successor
  | Leaving
  | SnapshotPart
  | SnapshotEnd
  | Changes
  | Acks
  | Nack
  | Synced
  | Batch
  | Reply;
/** What a link passes on after its welcome (it handles presence and leaving itself). */
export type LinkMessage = Exclude<ToFollower, Welcome | Presence | Leaving>;

const instanceInfo = is.object({
  instanceId: is.nonEmptyStr(64),
  name: is.str(128),
  pid: is.int(0),
  role: is.oneOf('owner', 'follower'),
  since: is.number(),
  appVersion: is.str(64),
  stateVersion: is.optional(is.int(0)),
});

const itemShapes: Shapes<BatchItem> = {
  changes: {
    t: is.oneOf('changes'),
    epoch: is.int(1),
    v: is.int(1),
    ms: is.arrayOf(is.json(), MAX_ITEMS),
    ids: is.arrayOf(isId, MAX_ITEMS),
  },
  acks: { t: is.oneOf('acks'), epoch: is.int(1), seqs: is.arrayOf(is.int(1), MAX_ITEMS), vs: is.arrayOf(is.int(0), MAX_ITEMS) },
  nack: { t: is.oneOf('nack'), epoch: is.int(1), seq: is.int(1), code: is.str(32), message: is.str(512) },
};
const own = Object.prototype.hasOwnProperty;
const batchItem = (v: unknown): boolean => {
  const t = (v as { t?: unknown } | null)?.t;
  return (
    typeof t === 'string' && own.call(itemShapes, t) && matches(v, itemShapes[t as BatchItem['t']]) && rule(v as BatchItem) === undefined
  );
};

const shapes: Shapes<ToFollower> = {
  ...itemShapes,
  welcome: {
    t: is.oneOf('welcome'),
    // Any version decodes, so that an owner of another version is refused as such (4002), not as malformed.
    v: is.int(0),
    proof: is.nonEmptyStr(128),
    epoch: is.int(1),
    ownerId: is.nonEmptyStr(64),
    instances: is.arrayOf(instanceInfo),
    maxPayload: is.int(1),
    sv: is.int(0),
    holder: (v) => v === undefined || recordProblem(v) === undefined,
  },
  presence: { t: is.oneOf('presence'), epoch: is.int(1), instances: is.arrayOf(instanceInfo) },
  'standby-request': { t: is.oneOf('standby-request'), epoch: is.int(1) },
  successor: {
    t: is.oneOf('successor'),
    epoch: is.int(1),
    instanceId: is.nonEmptyStr(64),
    endpoint: is.nonEmptyStr(1024),
    secret: is.nonEmptyStr(256),
  },
  leaving: { t: is.oneOf('leaving'), epoch: is.int(1), successor: is.nullable(is.nonEmptyStr(64)) },
  'snapshot-part': {
    t: is.oneOf('snapshot-part'),
    epoch: is.int(1),
    v: is.int(0),
    i: is.int(0),
    text: (x) => typeof x === 'string' && x.length > 0 && x.length <= SNAPSHOT_PART_CHARS,
  },
  'snapshot-end': {
    t: is.oneOf('snapshot-end'),
    epoch: is.int(1),
    v: is.int(0),
    parts: is.int(1),
    chars: is.int(1),
    at: is.optional(isId),
  },
  synced: { t: is.oneOf('synced'), epoch: is.int(1), v: is.int(0) },
  batch: { t: is.oneOf('batch'), epoch: is.int(1), items: is.arrayOf(batchItem, MAX_ITEMS) },
  reply: {
    t: is.oneOf('reply'),
    epoch: is.int(1),
    id: is.int(1),
    value: is.json(),
    code: is.optional(is.nonEmptyStr(32)),
    message: is.optional(is.str(512)),
  },
};

/** What the shapes cannot say: the relations between a message's fields. */
function rule(m: ToFollower): string | undefined {
  switch (m.t) {
    case 'changes':
      return m.ms.length === m.ids.length ? undefined : 'as many ids as changes';
    case 'acks':
      return m.seqs.length === m.vs.length ? undefined : 'as many versions as acks';
    case 'batch':
      return m.items.every((i) => i.epoch === m.epoch) ? undefined : "every item of the batch's epoch";
    case 'reply':
      return m.code === undefined
        ? m.message === undefined
          ? undefined
          : 'a message only with a code'
        : m.value === undefined && m.message !== undefined
          ? undefined
          : 'a code with a message and no value';
    default:
      return undefined;
  }
}

/** One frame from the owner, or why it is refused (close 4000). Never throws. */
export function decode(raw: string | Uint8Array): ToFollower | DecodeError {
  return decodeFrame(raw, shapes, rule);
}

export function encode(m: ToFollower): ToFollowerFrame {
  return JSON.stringify(m) as ToFollowerFrame;
}

// ---- fast paths ----------------------------------------------------------------------------------------
// The owner encodes a change once for the journal and every follower: these join such pieces of JSON.

/** The changes v, v + 1, … from each mutation's JSON (as the journal holds it) and each id's JSON. */
export function changesFrame(epoch: number, v: number, ms: readonly string[], ids: readonly string[]): ToFollowerFrame {
  return `{"t":"changes","epoch":${epoch},"v":${v},"ms":[${ms.join(',')}],"ids":[${ids.join(',')}]}` as ToFollowerFrame;
}

/** seqs and vs: integers (validated as the follower sent them, or versions this owner gave). */
export function acksFrame(epoch: number, seqs: readonly number[], vs: readonly number[]): ToFollowerFrame {
  return `{"t":"acks","epoch":${epoch},"seqs":[${seqs.join(',')}],"vs":[${vs.join(',')}]}` as ToFollowerFrame;
}

/** Several frames of `epoch` (each a `changes`, `acks` or `nack`) as one. */
export function batchFrame(epoch: number, items: readonly ToFollowerFrame[]): ToFollowerFrame {
  return `{"t":"batch","epoch":${epoch},"items":[${items.join(',')}]}` as ToFollowerFrame;
}

export function snapshotPartFrame(epoch: number, v: number, i: number, text: string): ToFollowerFrame {
  return `{"t":"snapshot-part","epoch":${epoch},"v":${v},"i":${i},"text":${JSON.stringify(text)}}` as ToFollowerFrame;
}

/** `at`: the id of change `v`; undefined when not known (the field is left out). */
export function snapshotEndFrame(epoch: number, v: number, parts: number, chars: number, at?: Id): ToFollowerFrame {
  const id = at === undefined ? '' : `,"at":${JSON.stringify(at)}`;
  return `{"t":"snapshot-end","epoch":${epoch},"v":${v},"parts":${parts},"chars":${chars}${id}}` as ToFollowerFrame;
}
