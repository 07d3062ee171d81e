/**
 * A follower's outgoing mutations on one link. The mutations issued in one tick leave in one `mutates`
 * frame (one frame to mask and parse, one message to validate), up to MAX_MUTATES items and a quarter of
 * the owner's maxPayload; a single one leaves as a plain `mutate`. Order is kept: frames go out in the
 * order of the calls. Nothing is retried here: mutations not yet acknowledged stay pending in SharedState
 * and are sent again on the next link.
 */
import type { Mutation } from './document.js';
import type { ToOwnerFrame } from '../transport/codec/fields.js';
import { MAX_MUTATES, mutateFrame, mutateItem, mutatesFrame, type MutateItemJson } from '../transport/codec/to-owner.js';

export interface BatcherLink {
  readonly epoch: number;
  /** The owner's maxPayload (from its welcome), in bytes. */
  readonly maxPayload: number;
  sendRaw(data: ToOwnerFrame): boolean;
}

export class MutationBatcher {
  readonly #link: BatcherLink;
  readonly #limitChars: number;
  #items: MutateItemJson[] = [];
  #chars = 0;
  #scheduled = false;

  constructor(link: BatcherLink) {
    this.#link = link;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a quarter of maxPayload in characters stays under it.
    this.#limitChars = Math.min(256 * 1024, Math.floor(link.maxPayload / 4));
  }

  send(seq: number, m: Mutation, durable: boolean): void {
    const item = mutateItem(seq, m, durable);
    if (this.#items.length > 0 && this.#chars + item.length > this.#limitChars) this.flush();
    this.#items.push(item);
    this.#chars += item.length;
    if (this.#items.length >= MAX_MUTATES) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      // After the current tick's promise reactions too: an app's loop of mutate() calls is one batch.
      process.nextTick(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  flush(): void {
    const items = this.#items;
    if (items.length === 0) return;
    this.#items = [];
    this.#chars = 0;
    const epoch = this.#link.epoch;
    this.#link.sendRaw(items.length === 1 ? mutateFrame(epoch, items[0]!) : mutatesFrame(epoch, items));
  }
}
