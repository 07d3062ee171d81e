/**
 * The owner ⇄ follower protocol: the connection, the version, the close codes. Pure data: no ws, no Node
 * APIs, so it can be tested in memory. The frames themselves, one typed union per direction with its
 * decoder and encoders: codec/to-owner.ts (follower → owner) and codec/to-follower.ts (owner → follower).
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
 *   {"t":"hello","v":1,"nonce":N,"epoch":E,"instanceId":…} ─▶  4. v ≠ PROTOCOL_VERSION → close 4002 "protocol 1 P"
 *                                                          5. E > owner's epoch    → close 4004
 *                                                          6. instanceId connected → close 4007
 *   ◀───── {"t":"welcome","v":1,"proof":P,"epoch":E',"ownerId":…,"instances":[…],"maxPayload":N,"sv":S,"holder":{…}}
 *          P = HMAC-SHA256(secret, N): the owner proves it holds the secret, so a follower believes nothing
 *          (no welcome, no refusal) from a process that only listens on a stale record's port. A follower
 *          refuses a welcome without that proof (4000), of another version with 4002, of an epoch below E
 *          with 4004, and stops with EOUTDATED when the state's version S is newer than its code's
 *   ◀───── {"t":"presence","epoch":E',"instances":[…]}        (whenever instances join or leave)
 *   ◀───── {"t":"standby-request","epoch":E'}                 (to the designated successor only)
 *   {"t":"standby","epoch":E',"endpoint":…,"secret":…} ──▶   (its future endpoint; it listens, unserved)
 *   ◀───── {"t":"successor","epoch":E',"instanceId":…,"endpoint":…,"secret":…}  (to the others: pre-connect)
 *   ◀───── {"t":"leaving","epoch":E',"successor":id}          (graceful handover; then close 4005)
 *   ◀────▶ state frames (sync, mutate(s) ▶; snapshot-part/end, changes, acks, nack, synced, batch ◀),
 *          each with "epoch": drawn in codec/to-owner.ts and codec/to-follower.ts
 *
 * Frames are JSON text, one message each, at most `maxPayload` bytes (over that, ws closes with 1009).
 * Every message carries the sender's epoch; a follower never accepts a message from a lower epoch than
 * it has seen (it closes with 4004 and looks for the current owner). Nothing but the upgrade headers is
 * read before authentication. Heartbeats are WebSocket ping/pong frames.
 */

/** The one protocol both sides speak: a hello or welcome naming another is refused (4002). */
export const PROTOCOL_VERSION = 1;

/*
 * What every version keeps, so that each side can tell an older peer from a newer one: a hello is a JSON
 * object whose `t`, `v` and `nonce` mean what they mean here, a welcome one whose `t`, `v` and `proof` do,
 * and a 4002 close's reason is `protocol N P`: N the closing side's own version and, from an owner, P its
 * proof for the hello's nonce. A follower whose proven owner is newer stops with EOUTDATED ("restart to
 * update"); one whose owner is older waits for it to go; an unproven refusal is only a failed connection.
 */

/** The reason of a 4002 close: this side's version, and the owner's proof for the follower's nonce. */
export function versionRefusal(proof?: string): string {
  return proof === undefined ? `protocol ${PROTOCOL_VERSION}` : `protocol ${PROTOCOL_VERSION} ${proof}`;
}

/** The other side's version and proof, from the reason of its 4002 close; undefined when it names none. */
export function refusedBy(reason: string): { v: number; proof?: string } | undefined {
  const m = /^protocol (\d{1,9})(?: ([0-9a-f]{1,128}))?$/.exec(reason);
  if (!m) return undefined;
  return m[2] === undefined ? { v: Number(m[1]) } : { v: Number(m[1]), proof: m[2] };
}

/**
 * What every version's hello or welcome keeps (`v`, and the hello's `nonce` or the welcome's `proof`),
 * read from one that does not decode as ours (another version's frame); undefined for anything else.
 */
export function peekHello(text: string): { t: 'hello' | 'welcome'; v: number; nonce?: string; proof?: string } | undefined {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof x !== 'object' || x === null) return undefined;
  const { t, v, nonce, proof } = x as { t?: unknown; v?: unknown; nonce?: unknown; proof?: unknown };
  if ((t !== 'hello' && t !== 'welcome') || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return undefined;
  return {
    t,
    v,
    ...(typeof nonce === 'string' && nonce.length <= 128 ? { nonce } : {}),
    ...(typeof proof === 'string' && proof.length <= 128 ? { proof } : {}),
  };
}

/** Close codes, stable; the reason string is for humans. */
export const CloseCode = {
  /** A message failed validation (bad JSON, unknown type, wrong field types). */
  PROTOCOL: 4000,
  /** The other side speaks another protocol version. */
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
  /** The app's version it runs ('' when not given). */
  appVersion: string;
  /** The state version its code knows (`join({ stateVersion })`; absent: none). */
  stateVersion?: number;
}
