/**
 * A follower's outgoing mutations on one link. With an owner that speaks protocol 2, the mutations issued
 * in one tick leave in one `mutates` frame (one frame to mask and parse, one message to validate), up to
 * MAX_MUTATES items and a quarter of the owner's maxPayload; a single one leaves as a plain `mutate`. With
 * protocol 1, each leaves as its own `mutate`. Order is kept: frames go out in the order of the calls.
 * Nothing is retried here: mutations not yet acknowledged stay pending in SharedState and are sent again
 * on the next link.
 */
import type { Mutation } from './document.js';
import { MAX_MUTATES } from './wire.js';

export interface BatcherLink {
  readonly epoch: number;
  /** The negotiated protocol version. */
  readonly version: number;
  /** The owner's maxPayload (v2 welcome), in bytes. */
  readonly maxPayload: number | undefined;
  sendRaw(data: string): boolean;
}

export class MutationBatcher {
  readonly #link: BatcherLink;
  readonly #limitChars: number;
  #items: string[] = [];
  #chars = 0;
  #scheduled = false;

  constructor(link: BatcherLink) {
    this.#link = link;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a quarter of maxPayload in characters stays under it.
    this.#limitChars = Math.min(256 * 1024, Math.floor((link.maxPayload ?? 1 << 20) / 4));
  }

  send(seq: number, m: Mutation, durable: boolean): void {
    const item = `{"seq":${seq},"m":${JSON.stringify(m)}${durable ? '' : ',"durable":false'}}`;
    if (this.#link.version < 2) {
      this.#link.sendRaw(single(this.#link.epoch, item));
      return;
    }
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
    this.#link.sendRaw(items.length === 1 ? single(epoch, items[0]!) : `{"t":"mutates","epoch":${epoch},"items":[${items.join(',')}]}`);
  }
}

/** `{"seq":…}` → `{"t":"mutate","epoch":E,"seq":…}` */
function single(epoch: number, item: string): string {
  return `{"t":"mutate","epoch":${epoch},${item.slice(1)}`;
}
