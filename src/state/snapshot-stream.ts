/**
 * Sending snapshots to joining followers, a part at a time (the owner's side; the follower's side is
 * snapshot-assembly.ts, the messages are drawn in transport/codec/to-follower.ts).
 *
 * 1. The document at version V never changes (documents are copy-on-write: state/document.ts), so it is
 *    serialized while commits go on, a slice at a time (json-slices.ts; the loop also turns after every
 *    part), cut into parts of at most SNAPSHOT_PART_CHARS characters, each encoded once as a
 *    `snapshot-part` frame; then a `snapshot-end`.
 * 2. One serialization is shared by every follower that starts reading it while its first part is still
 *    held (until the window below first fills): followers that join together cost one serialization and
 *    one encoding of each part; one that comes later gets a serialization of its own.
 * 3. A serialization holds at most STREAM_WINDOW_PARTS parts that one of its readers has not sent yet, and
 *    makes more only as the slowest reader moves on; a reader sends a part only while its socket holds
 *    less than STREAM_HIGH_WATER_BYTES unsent. So a stream costs the owner a few MiB, whatever the size of
 *    the state and however slowly the follower reads.
 * 4. A reader whose socket stays that full for STREAM_STALL_MS is closed (4006, too slow: it resyncs when
 *    it reconnects): the owner's heartbeat counts unsent bytes as life, and a reader that reads nothing
 *    would hold every reader of its serialization.
 * 5. The lease check runs before every frame. A cancelled reader (its follower left or asked again, the
 *    owner steps down) stops at once; a serialization without readers stops before its next part.
 * Not guaranteed: any order between frames to different followers.
 */
import { nextTurn, sleep, type Clock } from '../clock.js';
import { CloseCode } from '../transport/protocol.js';
import type { Peer } from '../transport/server.js';
import type { Doc } from './document.js';
import { serializeInSlices } from './journal/json-slices.js';
import type { Id, ToFollowerFrame } from '../transport/codec/fields.js';
import { SNAPSHOT_PART_CHARS, snapshotEndFrame, snapshotPartFrame } from '../transport/codec/to-follower.js';

/** Parts of one serialization held at most, made and not yet sent to every reader (8 × 256 Ki characters). */
export const STREAM_WINDOW_PARTS = 8;
/** A reader sends its next frame only while its socket holds less than this many bytes unsent. */
export const STREAM_HIGH_WATER_BYTES = 1 << 20;
/** A follower that does not make room for its next frame for this long is closed as too slow. */
export const STREAM_STALL_MS = 10_000;
/** How often a reader looks again at a socket that is full. */
const STREAM_POLL_MS = 1;
/** Serialization hands the loop back after this much work at most (besides after every part). */
const STREAM_SLICE_MS = 4;

/**
 * The serializer hands over text in chunks of at least this many characters (plus at most one token):
 * below a part's size, so that most chunks make one part and only chunks with a long token are cut.
 */
const STREAM_CHUNK_CHARS = (SNAPSHOT_PART_CHARS * 3) / 4;
/** Thrown into the serializer to stop it. */
const STOPPED = Symbol('stopped');

/** One follower reading a stream. */
interface Reader {
  cancelled: boolean;
  serialization?: Serialization;
}

/**
 * Waits until `peer`'s socket has room for another frame (less than STREAM_HIGH_WATER_BYTES unsent): true
 * then; false if `cancelled()` turned true first, or after STREAM_STALL_MS without room (the peer is then
 * closed as too slow).
 */
export async function roomFor(peer: Peer, clock: Clock, cancelled: () => boolean): Promise<boolean> {
  const start = clock.now();
  while (peer.bufferedAmount >= STREAM_HIGH_WATER_BYTES) {
    if (cancelled()) return false;
    if (clock.now() - start >= STREAM_STALL_MS) {
      peer.close(CloseCode.TOO_SLOW, 'too slow to read the state: reconnect and resync');
      return false;
    }
    await sleep(clock, STREAM_POLL_MS);
  }
  return !cancelled();
}

class Serialization {
  readonly version: number;
  /** Frames of parts #base, #base + 1, …, #made - 1. */
  #frames: ToFollowerFrame[] = [];
  #base = 0;
  #made = 0;
  /** The `snapshot-end` frame, once every part is made. */
  #end: ToFollowerFrame | undefined;
  #stopped = false;
  /** Each reader's next part. */
  readonly #next = new Map<Reader, number>();
  #room: (() => void) | undefined;
  #waiting: (() => void)[] = [];
  readonly #onStop: () => void;

  /** The id of change `version`, when known (sent in the `snapshot-end`). */
  readonly at: Id | undefined;

  constructor(epoch: number, version: number, at: Id | undefined, state: Doc, clock: Clock, onStop: () => void) {
    this.version = version;
    this.at = at;
    this.#onStop = onStop;
    void this.#run(epoch, state, clock);
  }

  /** Adds a reader from part 0: false once that part is gone (or the serialization stopped). */
  attach(reader: Reader): boolean {
    if (this.#stopped || this.#base > 0) return false;
    this.#next.set(reader, 0);
    reader.serialization = this;
    return true;
  }

  detach(reader: Reader): void {
    if (!this.#next.delete(reader)) return;
    if (this.#next.size === 0) this.stop();
    else this.#makeRoom();
    this.#wake();
  }

  /** Frame `i` for `reader` (the end frame after the last part), once made; undefined once detached. */
  async frame(reader: Reader, i: number): Promise<{ data: ToFollowerFrame; last: boolean } | undefined> {
    for (;;) {
      if (this.#stopped || !this.#next.has(reader)) return undefined;
      if (i < this.#made) return { data: this.#frames[i - this.#base]!, last: false };
      if (this.#end !== undefined) return { data: this.#end, last: true };
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** `reader` sent every frame before `next`. */
  advance(reader: Reader, next: number): void {
    if (!this.#next.has(reader)) return;
    this.#next.set(reader, next);
    this.#makeRoom();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#frames = [];
    this.#next.clear();
    this.#wake();
    this.#makeRoom();
    this.#onStop();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Drops the parts every reader has sent. Only once the window is full: until then the first part is
   * kept, and followers that ask meanwhile share this serialization from its start.
   */
  #trim(): void {
    let min = this.#made;
    for (const n of this.#next.values()) if (n < min) min = n;
    if (min <= this.#base) return;
    this.#frames.splice(0, min - this.#base);
    this.#base = min;
  }

  /** Resolves true once stopped, false once the window has room for another part. */
  async #waitForRoom(): Promise<boolean> {
    while (!this.#stopped && this.#made - this.#base >= STREAM_WINDOW_PARTS) {
      this.#trim();
      if (this.#made - this.#base < STREAM_WINDOW_PARTS) break;
      await new Promise<void>((resolve) => (this.#room = resolve));
    }
    return this.#stopped;
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }

  #makeRoom(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.();
  }

  async #run(epoch: number, state: Doc, clock: Clock): Promise<void> {
    let chars = 0;
    const sink = async (text: string) => {
      for (let at = 0; at < text.length; at += SNAPSHOT_PART_CHARS) {
        if (await this.#waitForRoom()) throw STOPPED;
        // Cut anywhere, even inside a surrogate pair: the text travels JSON-escaped and is joined back.
        const part = text.length <= SNAPSHOT_PART_CHARS ? text : text.slice(at, at + SNAPSHOT_PART_CHARS);
        this.#frames.push(snapshotPartFrame(epoch, this.version, this.#made, part));
        this.#made++;
        chars += part.length;
        this.#wake();
      }
      await nextTurn();
    };
    try {
      await serializeInSlices(state, sink, { clock, sliceMs: STREAM_SLICE_MS, chunkChars: STREAM_CHUNK_CHARS });
      if (this.#stopped) return;
      this.#end = snapshotEndFrame(epoch, this.version, this.#made, chars, this.at);
      this.#wake();
    } catch {
      this.stop(); // stopped, or (never expected of a frozen JSON document) the serializer failed: readers see undefined
    }
  }
}

/** The snapshot streams of one owner (one epoch). */
export class SnapshotStreams {
  readonly #epoch: number;
  readonly #clock: Clock;
  readonly #guard: () => void;
  /** The newest serialization: joined by the next reader while its first part is held. */
  #current: Serialization | undefined;
  readonly #live = new Set<Serialization>();
  readonly #readers = new Map<Peer, Reader>();

  constructor(o: { epoch: number; clock: Clock; guard: () => void }) {
    this.#epoch = o.epoch;
    this.#clock = o.clock;
    this.#guard = o.guard;
  }

  /**
   * Sends `peer` a snapshot: of `state` at `version` (`at`: the id of change `version`, when known), or of
   * an earlier version whose serialization is still at its start. Resolves with the version sent once the
   * `snapshot-end` is handed to the socket, or undefined when the stream stopped (cancelled, the peer too
   * slow or gone, the lease check failed).
   */
  async send(peer: Peer, version: number, state: Doc, at?: Id): Promise<number | undefined> {
    this.cancel(peer);
    const reader: Reader = { cancelled: false };
    this.#readers.set(peer, reader);
    let s = this.#current;
    if (!s || !s.attach(reader)) {
      const made: Serialization = new Serialization(this.#epoch, version, at, state, this.#clock, () => {
        this.#live.delete(made);
        if (this.#current === made) this.#current = undefined;
      });
      s = this.#current = made;
      this.#live.add(made);
      s.attach(reader);
    }
    try {
      for (let i = 0; ; i++) {
        const f = await s.frame(reader, i);
        if (!f || !(await roomFor(peer, this.#clock, () => reader.cancelled))) return undefined;
        this.#guard();
        peer.sendRaw(f.data);
        if (f.last) return s.version;
        s.advance(reader, i + 1);
      }
    } catch {
      return undefined; // the lease check failed: this owner is stepping down, and cancels every stream
    } finally {
      s.detach(reader);
      if (this.#readers.get(peer) === reader) this.#readers.delete(peer);
    }
  }

  /** Stops `peer`'s stream, if any. */
  cancel(peer: Peer): void {
    const reader = this.#readers.get(peer);
    if (!reader) return;
    this.#readers.delete(peer);
    reader.cancelled = true;
    reader.serialization?.detach(reader);
  }

  /** Stops every stream and serialization (the owner steps down or closes). */
  cancelAll(): void {
    for (const peer of [...this.#readers.keys()]) this.cancel(peer);
    for (const s of [...this.#live]) s.stop();
  }

  /** Streams being sent and serializations under way (for tests and diagnostics). */
  get active(): { readers: number; serializations: number } {
    return { readers: this.#readers.size, serializations: this.#live.size };
  }
}
