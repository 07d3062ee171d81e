/**
 * Follower → owner: every frame a follower sends, as one typed union, with the one decoder the owner runs on
 * each frame and the encoders a follower sends with (see protocol.ts for the connection and close codes).
 *
 *   {"t":"hello","v":1,"nonce":N,"epoch":E,"instanceId":…,"name":…,"pid":P,"appVersion":…}   the first frame;
 *                                                v: PROTOCOL_VERSION, E: the highest epoch this follower
 *                                                has seen, appVersion (optional): the app's version,
 *                                                sv (optional): the state version its code knows
 *   {"t":"standby","epoch":E,"endpoint":…,"secret":…}   the designated successor: where it will serve
 *   {"t":"sync","epoch":E,"since":V,"at":[id,seq]|null}  send me what I lack after V; `at` (absent when
 *                                                not known): the id of the replica's change V, so that an
 *                                                owner whose change V differs answers with a snapshot
 *   {"t":"mutate","epoch":E,"seq":N,"m":{op,path,…}}     N rises by one per mutation; with "durable":false
 *                                                the owner acks once applied, before its journal flush
 *   {"t":"mutates","epoch":E,"items":[{"seq":N,"m":…},…]}  several mutations (≤ MAX_MUTATES), in order
 *   {"t":"request","epoch":E,"id":N,"name":…,"payload":…}  run the owner's handler `name` (requests/);
 *                                                N: the request's id, the same each time it is sent again
 *
 * Every frame but hello carries the epoch of the owner it is meant for. A mutation's `m` is any JSON here:
 * the owner validates it as a mutation (state/document.ts) and refuses a bad one with a `nack`.
 * The fast paths (mutateItem, mutateFrame, mutatesFrame) build the frames of the hot path from strings and
 * give exactly what `encode` gives (test/transport/codec/to-owner.test.ts).
 */
import type { Json } from '../../state/json.js';
import { decodeFrame, is, isId, type DecodeError, type Id, type Shapes, type ToOwnerFrame } from './fields.js';

/** The most mutations in one `mutates` frame. */
export const MAX_MUTATES = 1000;
/** The longest request name. */
export const MAX_REQUEST_NAME = 128;

export interface Hello {
  t: 'hello';
  v: number;
  /** Random, per connection: the owner's welcome proves it holds the secret with an HMAC of it (secret.ts). */
  nonce: string;
  epoch: number;
  instanceId: string;
  name: string;
  pid: number;
  /** The app's version the follower runs (absent: unknown). */
  appVersion?: string;
  /** The state version the follower's code knows (absent: none). */
  sv?: number;
}
export interface Standby {
  t: 'standby';
  epoch: number;
  endpoint: string;
  secret: string;
}
export interface Sync {
  t: 'sync';
  epoch: number;
  since: number;
  at?: Id;
}
export interface MutateItem {
  seq: number;
  m: Json;
  durable?: false;
}
export interface Mutate extends MutateItem {
  t: 'mutate';
  epoch: number;
}
export interface Mutates {
  t: 'mutates';
  epoch: number;
  items: MutateItem[];
}

export interface Request {
  t: 'request';
  epoch: number;
  id: number;
  name: string;
  payload?: Json;
}

export type ToOwner = Hello | Standby | Sync | Mutate | Mutates | Request;
/** What the state layer serves (the transport handles hello and standby). */
export type StateToOwner = Sync | Mutate | Mutates;
/** What a follower may send once its hello was welcomed. */
export type Joined = Standby | StateToOwner | Request;

const notDurable = (v: unknown) => v === undefined || v === false;
const item = is.object({ seq: is.int(1), m: is.json(), durable: notDurable });

const shapes: Shapes<ToOwner> = {
  hello: {
    t: is.oneOf('hello'),
    // Any version decodes, so that a follower of another version is refused as such (4002), not as malformed.
    v: is.int(0),
    nonce: is.nonEmptyStr(128),
    epoch: is.int(0),
    instanceId: is.nonEmptyStr(64),
    name: is.str(128),
    pid: is.int(0),
    appVersion: is.optional(is.str(64)),
    sv: is.optional(is.int(0)),
  },
  standby: { t: is.oneOf('standby'), epoch: is.int(1), endpoint: is.nonEmptyStr(1024), secret: is.nonEmptyStr(256) },
  sync: { t: is.oneOf('sync'), epoch: is.int(1), since: is.int(0), at: is.optional(isId) },
  mutate: { t: is.oneOf('mutate'), epoch: is.int(1), seq: is.int(1), m: is.json(), durable: notDurable },
  mutates: { t: is.oneOf('mutates'), epoch: is.int(1), items: is.arrayOf(item, MAX_MUTATES) },
  request: { t: is.oneOf('request'), epoch: is.int(1), id: is.int(1), name: is.nonEmptyStr(MAX_REQUEST_NAME), payload: is.json() },
};

/** One frame from a follower, or why it is refused (close 4000). Never throws. */
export function decode(raw: string | Uint8Array): ToOwner | DecodeError {
  return decodeFrame(raw, shapes, () => undefined);
}

export function encode(m: ToOwner): ToOwnerFrame {
  return JSON.stringify(m) as ToOwnerFrame;
}

// ---- fast paths ----------------------------------------------------------------------------------------

/** One mutation as a `mutates` item, in JSON: a follower measures it to keep a frame under the owner's limit. */
export type MutateItemJson = string & { readonly mutateItem: true };

export function mutateItem(seq: number, m: Json, durable: boolean): MutateItemJson {
  return `{"seq":${seq},"m":${JSON.stringify(m)}${durable ? '' : ',"durable":false'}}` as MutateItemJson;
}

/** `{"seq":…}` → `{"t":"mutate","epoch":E,"seq":…}` */
export function mutateFrame(epoch: number, item: MutateItemJson): ToOwnerFrame {
  return `{"t":"mutate","epoch":${epoch},${item.slice(1)}` as ToOwnerFrame;
}

export function mutatesFrame(epoch: number, items: readonly MutateItemJson[]): ToOwnerFrame {
  return `{"t":"mutates","epoch":${epoch},"items":[${items.join(',')}]}` as ToOwnerFrame;
}
