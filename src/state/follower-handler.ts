/**
 * The follower's side of the state protocol (owner-handler.ts is the owner's): the owner's messages on a
 * link applied to the replica, and the `sync` that asks for what the replica lacks.
 *
 * Guarantees: changes are applied in version order only; a gap, or a change whose history differs (the id
 * at the replica's version), is answered by a new `sync` from where the replica is; a snapshot's parts are
 * checked in order (snapshot-assembly.ts), anything out of place closes the link (4000, 1009 when too
 * large); a `nack` with ELOST is kept for the next owner (its outcome is unknown). Once `leave()` was
 * called, nothing more from this link reaches the replica: its acks would count for the next owner's
 * route. Not guaranteed: anything about messages the owner sent after the link broke (the next owner
 * resends what matters: the follower resyncs and replays its pending mutations).
 */
import { ErrorCodes, LeaseholdError, type ErrorCode } from '../errors.js';
import type { FollowerLink } from '../transport/client.js';
import { unreachable } from '../transport/codec/fields.js';
import type { Sync } from '../transport/codec/to-owner.js';
import type { BatchItem, LinkMessage, Reply, StandbyRequest, Successor } from '../transport/codec/to-follower.js';
import type { Replica } from './shared-state.js';
import { SnapshotAssembly } from './snapshot-assembly.js';

export class FollowerStateHandler {
  readonly #link: FollowerLink;
  readonly #replica: Replica;
  /** Messages that are not state (the handover's `standby-request` and `successor`). */
  readonly #control: (m: StandbyRequest | Successor) => void;
  /** The snapshot being received, a part at a time. */
  #incoming: SnapshotAssembly | undefined;
  #left = false;

  constructor(link: FollowerLink, replica: Replica, control: (m: StandbyRequest | Successor) => void) {
    this.#link = link;
    this.#replica = replica;
    this.#control = control;
  }

  /** Stops applying this link's messages (the instance left its owner). */
  leave(): void {
    this.#left = true;
  }

  /** "Send me what I lack": from the replica's version, and the id of its change there when known. */
  syncRequest(): Sync {
    const link = this.#link;
    const at = this.#replica.lastId;
    const since = this.#replica.version;
    return at !== undefined ? { t: 'sync', epoch: link.epoch, since, at } : { t: 'sync', epoch: link.epoch, since };
  }

  /** Every message of the link but replies to requests (requests/requester.ts). */
  onMessage(m: Exclude<LinkMessage, Reply> | BatchItem): void {
    if (this.#left) return;
    const link = this.#link;
    const state = this.#replica;
    let incoming = this.#incoming;
    const out = incoming?.interrupts(m.t);
    if (out) return link.refuse(out.refused.reason, out.refused.code);
    switch (m.t) {
      case 'standby-request':
      case 'successor':
        return this.#control(m);
      case 'batch':
        // (Decoded: changes, acks and nacks of the batch's epoch, which the link checked.)
        for (const item of m.items) this.onMessage(item);
        return;
      case 'snapshot-part': {
        if (!incoming) this.#incoming = incoming = new SnapshotAssembly();
        const out = incoming.part(m);
        return out && link.refuse(out.refused.reason, out.refused.code);
      }
      case 'snapshot-end': {
        const done = (incoming ?? new SnapshotAssembly()).end(m);
        return 'refused' in done ? link.refuse(done.refused.reason, done.refused.code) : state.snapshot(done.v, done.state, m.at);
      }
      case 'changes': {
        const { ms, ids, v } = m; // as many ids as changes (decoded)
        // Out of order (a gap): ask again from where the replica is.
        for (let i = 0; i < ms.length; i++) if (!state.change(v + i, ms[i]!, ids[i]!)) return void link.send(this.syncRequest());
        return;
      }
      case 'synced':
        return state.caughtUp(m.v);
      case 'acks': {
        const { seqs, vs } = m; // as many versions as acks (decoded)
        for (let i = 0; i < seqs.length; i++) state.ack(seqs[i]!, vs[i]!);
        return;
      }
      case 'nack':
        // ELOST: the owner lost its lease mid-way; the outcome is unknown, so keep it for the next owner.
        if (m.code === 'ELOST') return;
        return state.nack(m.seq, new LeaseholdError(asCode(m.code), m.message));
      default:
        return unreachable(m);
    }
  }
}

function asCode(code: unknown): ErrorCode {
  return (ErrorCodes as readonly unknown[]).includes(code) ? (code as ErrorCode) : 'EPROTOCOL';
}
