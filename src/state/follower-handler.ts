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
import { matches, type Message } from '../transport/protocol.js';
import type { Json } from './document.js';
import type { Replica } from './shared-state.js';
import { SnapshotAssembly } from './snapshot-assembly.js';
import { stateOwnerSchemas } from './wire.js';

export class FollowerStateHandler {
  readonly #link: FollowerLink;
  readonly #replica: Replica;
  /** Messages that are not state (the handover's `standby-request` and `successor`). */
  readonly #control: (m: Message) => void;
  /** The snapshot being received, a part at a time. */
  #incoming: SnapshotAssembly | undefined;
  #left = false;

  constructor(link: FollowerLink, replica: Replica, control: (m: Message) => void) {
    this.#link = link;
    this.#replica = replica;
    this.#control = control;
  }

  /** Stops applying this link's messages (the instance left its owner). */
  leave(): void {
    this.#left = true;
  }

  /** "Send me what I lack": from the replica's version, and (protocol 2) the id of its change there. */
  syncRequest(): Message {
    const link = this.#link;
    const at = this.#replica.lastId;
    const since = this.#replica.version;
    return link.version >= 2 && at !== undefined ? { t: 'sync', epoch: link.epoch, since, at } : { t: 'sync', epoch: link.epoch, since };
  }

  onMessage(m: Message): void {
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
        for (const item of m.items as unknown[]) {
          const t = (item as { t?: unknown })?.t;
          const schema =
            typeof t === 'string' && t !== 'batch' && Object.prototype.hasOwnProperty.call(stateOwnerSchemas, t)
              ? stateOwnerSchemas[t as keyof typeof stateOwnerSchemas]
              : undefined;
          if (!schema || !matches(item, schema) || (item as { epoch: number }).epoch !== link.epoch) return link.close();
          this.onMessage(item as Message);
        }
        return;
      case 'snapshot-part': {
        if (!incoming) this.#incoming = incoming = new SnapshotAssembly();
        const out = incoming.part(m as unknown as { v: number; i: number; text: string });
        return out && link.refuse(out.refused.reason, out.refused.code);
      }
      case 'snapshot-end': {
        const done = (incoming ?? new SnapshotAssembly()).end(m as unknown as { v: number; parts: number; chars: number });
        return 'refused' in done ? link.refuse(done.refused.reason, done.refused.code) : state.snapshot(done.v, done.state);
      }
      case 'change':
        // Out of order (a gap): ask again from where the replica is.
        if (!state.change(m.v as number, m.m as Json, m.id as [string, number] | null)) link.send(this.syncRequest());
        return;
      case 'changes': {
        const ms = m.ms as Json[];
        const ids = m.ids as ([string, number] | null)[];
        if (ms.length !== ids.length) return link.close();
        const v = m.v as number;
        for (let i = 0; i < ms.length; i++) if (!state.change(v + i, ms[i]!, ids[i]!)) return void link.send(this.syncRequest()); // a gap: as for `change`
        return;
      }
      case 'synced':
        return state.caughtUp(m.v as number);
      case 'ack':
        return state.ack(m.seq as number, m.v as number);
      case 'acks': {
        const seqs = m.seqs as number[];
        const vs = m.vs as number[];
        if (seqs.length !== vs.length) return link.close();
        for (let i = 0; i < seqs.length; i++) state.ack(seqs[i]!, vs[i]!);
        return;
      }
      case 'nack':
        // ELOST: the owner lost its lease mid-way; the outcome is unknown, so keep it for the next owner.
        if (m.code === 'ELOST') return;
        return state.nack(m.seq as number, new LeaseholdError(asCode(m.code), String(m.message)));
    }
  }
}

function asCode(code: unknown): ErrorCode {
  return (ErrorCodes as readonly unknown[]).includes(code) ? (code as ErrorCode) : 'EPROTOCOL';
}
