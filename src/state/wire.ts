/**
 * State messages on the owner ⇄ follower link (after hello/welcome; see transport/protocol.ts).
 *
 *   follower → owner   {"t":"mutate","epoch":E,"seq":N,"m":{op,path,…}}        N rises by one per mutation
 *                      (with "durable":false the owner acks once applied, before its journal flush)
 *                      {"t":"mutates","epoch":E,"items":[{"seq":N,"m":…},…]}   (v2) several mutations, in order
 *                      {"t":"sync","epoch":E,"since":V,"at":id}                 (after welcome) send me what I lack;
 *                      (v2) `at`: the id of the replica's change V, so that an owner whose change V differs
 *                      answers with a snapshot instead of changes on top of a history it does not share
 *   owner → follower   {"t":"snapshot-part","epoch":E,"v":V,"i":I,"text":"…"}   the document at version V as
 *                      JSON text, a part at a time: I = 0, 1, 2, … in order, each text 1 to SNAPSHOT_PART_CHARS
 *                      characters (a frame stays below 1 MiB), cut anywhere (the follower joins them)
 *                      {"t":"snapshot-end","epoch":E,"v":V,"parts":N,"chars":C}  the last of the N parts of V
 *                      was sent (C characters in all): the follower parses the text and replaces its replica
 *                      {"t":"change","epoch":E,"v":V,"m":…,"id":[instanceId,seq]|null}   in version order
 *                      {"t":"synced","epoch":E,"v":V}                         the answer to sync is complete
 *                      {"t":"ack","epoch":E,"seq":N,"v":V}                      committed (applied and flushed)
 *                      {"t":"nack","epoch":E,"seq":N,"code":"E…","message":"…"} refused; state unchanged
 *                      {"t":"batch","epoch":E,"items":[…]}   several of the above, in order (one group commit)
 *                      (v4) {"t":"changes","epoch":E,"v":V,"ms":[m,…],"ids":[id,…]}   the changes V, V+1, …
 *                      (v4) {"t":"acks","epoch":E,"seqs":[N,…],"vs":[V,…]}            several acks, in order
 *
 * The answer to `sync`, in this order: either the changes after `since` (`changes`), or a snapshot
 * (`snapshot-part`…, `snapshot-end`) then the changes committed after its version while it was sent;
 * then `synced` with the version the follower is at. A snapshot's parts are never interleaved with
 * anything else of the state (no change, ack or nack before its end; presence, standby and successor
 * messages may come between). A follower refuses a stream that breaks this (parts out of order, another
 * version, an end that does not match, text that is not JSON): it closes with 4000 (protocol); a part of
 * another epoch, like any message, closes the link with 4004. One whose text would exceed
 * SNAPSHOT_MAX_CHARS is refused with 1009 (too big) as soon as a part goes over it. The owner closes a
 * follower that leaves its socket full for STREAM_STALL_MS (snapshot-stream.ts), or would need more than
 * MAX_SNAPSHOTS_PER_SYNC snapshots for one sync (owner-handler.ts), with 4006 (too slow: it reconnects and
 * resyncs).
 */
import { is } from '../transport/protocol.js';

const notDurable = (v: unknown) => v === undefined || v === false;
/** A change's `id`: [instanceId, seq], or null. */
export const isId = (v: unknown): boolean =>
  v === null || (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && v[0].length <= 64 && Number.isSafeInteger(v[1]));
/** The most mutations in one `mutates` frame. */
export const MAX_MUTATES = 1000;

/**
 * The most characters of JSON text in one `snapshot-part`: a frame is then at most about 3 × this many bytes
 * (UTF-8, quotes escaped), below 1 MiB, whatever the follower's `maxPayload`.
 */
export const SNAPSHOT_PART_CHARS = 1 << 18;
/**
 * The most characters of JSON text a follower assembles from one snapshot: the longest string V8 makes
 * (64-bit Node 20 and 22), which the text has to become to be parsed. Past it the stream is refused (1009).
 */
export const SNAPSHOT_MAX_CHARS = 2 ** 29 - 24;

export const stateFollowerSchemas = {
  mutate: { t: is.oneOf('mutate'), epoch: is.int(1), seq: is.int(1), m: is.any(), durable: notDurable },
  mutates: {
    t: is.oneOf('mutates'),
    epoch: is.int(1),
    items: is.arrayOf(is.object({ seq: is.int(1), m: is.any(), durable: notDurable }), MAX_MUTATES),
  },
  sync: { t: is.oneOf('sync'), epoch: is.int(1), since: is.int(0), at: (v: unknown) => v === undefined || isId(v) },
};

export const stateOwnerSchemas = {
  'snapshot-part': {
    t: is.oneOf('snapshot-part'),
    epoch: is.int(1),
    v: is.int(0),
    i: is.int(0),
    text: (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= SNAPSHOT_PART_CHARS,
  },
  'snapshot-end': { t: is.oneOf('snapshot-end'), epoch: is.int(1), v: is.int(0), parts: is.int(1), chars: is.int(1) },
  change: { t: is.oneOf('change'), epoch: is.int(1), v: is.int(1), m: is.any(), id: is.any() },
  batch: { t: is.oneOf('batch'), epoch: is.int(1), items: is.arrayOf(is.any(), 1_000_000) },
  synced: { t: is.oneOf('synced'), epoch: is.int(1), v: is.int(0) },
  changes: {
    t: is.oneOf('changes'),
    epoch: is.int(1),
    v: is.int(1),
    ms: is.arrayOf(is.any(), 1_000_000),
    ids: is.arrayOf(isId, 1_000_000),
  },
  acks: { t: is.oneOf('acks'), epoch: is.int(1), seqs: is.arrayOf(is.int(1), 1_000_000), vs: is.arrayOf(is.int(0), 1_000_000) },
  ack: { t: is.oneOf('ack'), epoch: is.int(1), seq: is.int(1), v: is.int(0) },
  nack: { t: is.oneOf('nack'), epoch: is.int(1), seq: is.int(1), code: is.str(32), message: is.str(512) },
};
