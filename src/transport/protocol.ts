/**
 * The owner ⇄ follower protocol. Pure data: no ws, no Node APIs, so it can be tested in memory.
 *
 * Connection (HTTP upgrade to WebSocket, on 127.0.0.1 or a Unix socket in a 0700 directory):
 *
 *   follower                                              owner
 *   GET / Upgrade: websocket
 *       Authorization: Bearer <secret from the 0600 record>
 *       Host: 127.0.0.1:<port>
 *       (no Origin header)                   ───────────▶  1. Origin, or a Host that is not this
 *                                                             loopback listener    → HTTP 403, no socket
 *                                                          2. secret wrong/missing → HTTP 401, no socket
 *                                                          3. not serving (deposed) → close 4003
 *   {"t":"hello","v":[1],"epoch":E,"instanceId":…}  ─────▶  4. no common version   → close 4002
 *                                                          5. E > owner's epoch    → close 4004
 *                                                          6. instanceId connected → close 4007
 *   ◀───── {"t":"welcome","v":3,"epoch":E',"ownerId":…,"instances":[…],"maxPayload":N,"holder":{…}}
 *   ◀───── {"t":"presence","epoch":E',"instances":[…]}        (whenever instances join or leave)
 *   ◀───── {"t":"standby-request","epoch":E'}                 (to the designated successor only)
 *   {"t":"standby","epoch":E',"endpoint":…,"secret":…} ──▶   (its future endpoint; it listens, unserved)
 *   ◀───── {"t":"successor","epoch":E',"instanceId":…,"endpoint":…,"secret":…}  (to the others: pre-connect)
 *   ◀───── {"t":"leaving","epoch":E',"successor":id}          (graceful handover; then close 4005)
 *   ◀────▶ state messages (see state/wire.ts), each with "epoch"
 *
 * Frames are JSON text, one message each, at most `maxPayload` bytes (over that, ws closes with 1009).
 * Every message carries the sender's epoch; a follower never accepts a message from a lower epoch than
 * it has seen (it closes with 4004 and looks for the current owner). Nothing but the upgrade headers is
 * read before authentication. Heartbeats are WebSocket ping/pong frames.
 */

import { recordProblem, type LeaseRecord } from '../lease/record.js';

/**
 * 1: the messages drawn above and in state/wire.ts.
 * 2: adds `maxPayload` to the welcome and lets a follower send several mutations in one `mutates` frame.
 * 3: adds `holder` to the welcome: the owner's lease record without secrets, so a follower welcomed over a
 *    standby link after a graceful handover need not read the record from disk (at a handover every
 *    follower would, on the same cores as the new owner's first work).
 * 4: the owner sends the changes and acks of one commit as `changes` and `acks` (state/wire.ts): arrays
 *    instead of one object each, which a follower parses in about half the time.
 */
export const PROTOCOL_VERSIONS = [1, 2, 3, 4] as const;
export const PROTOCOL_VERSION = 4;

/** Close codes, stable; the reason string is for humans. */
export const CloseCode = {
  /** A message failed validation (bad JSON, unknown type, wrong field types). */
  PROTOCOL: 4000,
  /** No protocol version in common. */
  VERSION: 4002,
  /** This instance is not (or no longer) the owner. */
  NOT_OWNER: 4003,
  /** An epoch lower than one already seen (a stale owner, or a follower ahead of this owner). */
  STALE_EPOCH: 4004,
  /** Graceful handover: the owner is leaving; connect to the successor. */
  LEAVING: 4005,
  /** The follower fell too far behind and must reconnect (and resync). */
  TOO_SLOW: 4006,
  /** An instance with this id is already connected (one connection per instance). */
  DUPLICATE: 4007,
  /** The other side stopped answering heartbeats. */
  HEARTBEAT: 4008,
  /** Sent by the follower when it closes on its own. */
  GOING_AWAY: 1001,
  /** ws's own code for a frame over maxPayload. */
  TOO_BIG: 1009,
} as const;

export interface InstanceInfo {
  instanceId: string;
  name: string;
  pid: number;
  role: 'owner' | 'follower';
  /** Wall-clock ms when it joined this owner (for display). */
  since: number;
}

export interface Hello {
  t: 'hello';
  v: number[];
  epoch: number;
  instanceId: string;
  name: string;
  pid: number;
}
export interface Welcome {
  t: 'welcome';
  v: number;
  epoch: number;
  ownerId: string;
  instances: InstanceInfo[];
  /** v2: the largest frame the owner accepts. */
  maxPayload?: number;
  /** v3: the owner's lease record as it last wrote it, without secrets. */
  holder?: LeaseRecord;
}
export interface Presence {
  t: 'presence';
  epoch: number;
  instances: InstanceInfo[];
}
export interface Leaving {
  t: 'leaving';
  epoch: number;
  successor: string | null;
}

/** Owner → the follower it designates as its successor (the longest connected): listen, tell me where. */
export interface StandbyRequest {
  t: 'standby-request';
  epoch: number;
}
/** The designated follower → owner: the endpoint and secret it will serve with when it takes over. */
export interface Standby {
  t: 'standby';
  epoch: number;
  endpoint: string;
  secret: string;
}
/**
 * Owner → the other followers: who takes over on a graceful handover, and where. Followers connect there
 * in advance (the successor holds those connections unread until it serves), so a handover needs no new
 * handshake and no read of the lease record.
 */
export interface Successor {
  t: 'successor';
  epoch: number;
  instanceId: string;
  endpoint: string;
  secret: string;
}

export type ControlMessage = Hello | Welcome | Presence | Leaving | StandbyRequest | Standby | Successor;

/** Any message on the wire. */
export type Message = { t: string; [k: string]: unknown };

// ---- validation ------------------------------------------------------------------------------------

export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

type Check = (v: unknown) => boolean;
export const is = {
  str:
    (max = 256): Check =>
    (v) =>
      typeof v === 'string' && v.length <= max,
  nonEmptyStr:
    (max = 256): Check =>
    (v) =>
      typeof v === 'string' && v.length > 0 && v.length <= max,
  int:
    (min = 0): Check =>
    (v) =>
      Number.isSafeInteger(v) && (v as number) >= min,
  bool: (): Check => (v) => typeof v === 'boolean',
  arrayOf:
    (item: Check, max = 10_000): Check =>
    (v) =>
      Array.isArray(v) && v.length <= max && v.every(item),
  oneOf:
    (...values: unknown[]): Check =>
    (v) =>
      values.includes(v),
  nullable:
    (c: Check): Check =>
    (v) =>
      v === null || c(v),
  any: (): Check => () => true,
  object:
    (shape: Record<string, Check>): Check =>
    (v) =>
      matches(v, shape),
};

const own = Object.prototype.hasOwnProperty;
/** Each shape's fields as arrays, made once: a follower checks every change of every batch (tens of thousands a second). */
const compiled = new WeakMap<Record<string, Check>, { keys: string[]; checks: Check[] }>();

/**
 * True when `v` is a plain object whose fields pass `shape` and has no other fields. Only the shape's own
 * fields count: a field named like something every object inherits (`toString`, `constructor`) is unknown.
 */
export function matches(v: unknown, shape: Record<string, Check>): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  for (const k in o) if (own.call(o, k) && !own.call(shape, k)) return false;
  let c = compiled.get(shape);
  if (!c) compiled.set(shape, (c = { keys: Object.keys(shape), checks: Object.values(shape) }));
  for (let i = 0; i < c.keys.length; i++) if (!c.checks[i]!(o[c.keys[i]!])) return false;
  return true;
}

const instanceInfo = is.object({
  instanceId: is.nonEmptyStr(64),
  name: is.str(128),
  pid: is.int(0),
  role: is.oneOf('owner', 'follower'),
  since: (v) => typeof v === 'number',
});

export const controlSchemas: Record<ControlMessage['t'], Record<string, Check>> = {
  hello: {
    t: is.oneOf('hello'),
    v: is.arrayOf(is.int(1), 16),
    epoch: is.int(0),
    instanceId: is.nonEmptyStr(64),
    name: is.str(128),
    pid: is.int(0),
  },
  welcome: {
    t: is.oneOf('welcome'),
    v: is.int(1),
    epoch: is.int(1),
    ownerId: is.nonEmptyStr(64),
    instances: is.arrayOf(instanceInfo),
    maxPayload: (v) => v === undefined || (Number.isSafeInteger(v) && (v as number) > 0),
    holder: (v) => v === undefined || recordProblem(v) === undefined,
  },
  presence: { t: is.oneOf('presence'), epoch: is.int(1), instances: is.arrayOf(instanceInfo) },
  leaving: { t: is.oneOf('leaving'), epoch: is.int(1), successor: is.nullable(is.nonEmptyStr(64)) },
  'standby-request': { t: is.oneOf('standby-request'), epoch: is.int(1) },
  standby: { t: is.oneOf('standby'), epoch: is.int(1), endpoint: is.nonEmptyStr(1024), secret: is.nonEmptyStr(256) },
  successor: {
    t: is.oneOf('successor'),
    epoch: is.int(1),
    instanceId: is.nonEmptyStr(64),
    endpoint: is.nonEmptyStr(1024),
    secret: is.nonEmptyStr(256),
  },
};

/**
 * Parses one frame and validates it against `schemas` (by its `t`). Throws ProtocolViolation with a
 * reason short enough for a close frame (≤ 123 bytes).
 */
export function decode<M extends { t: string }>(data: string, schemas: Record<string, Record<string, Check>>): M {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    throw new ProtocolViolation('malformed JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProtocolViolation('a message is a JSON object');
  const t = (v as { t?: unknown }).t;
  if (typeof t !== 'string' || !Object.prototype.hasOwnProperty.call(schemas, t)) throw new ProtocolViolation('unknown message type');
  if (!matches(v, schemas[t]!)) throw new ProtocolViolation(`invalid "${t}" message`);
  return v as M;
}

export function encode(message: Message | ControlMessage): string {
  return JSON.stringify(message);
}

/** The highest version both sides speak, or undefined. */
export function negotiate(offered: readonly number[]): number | undefined {
  let best: number | undefined;
  for (const v of offered) if ((PROTOCOL_VERSIONS as readonly number[]).includes(v) && (best === undefined || v > best)) best = v;
  return best;
}
