/**
 * The owner's side of the shared state: the authoritative document, applied in order, journaled before
 * any acknowledgement (or, with `durable: false`, before the ≤ 2 ms group commit that follows it),
 * deduplicated by (instanceId, seq).
 *
 * Steps for one mutation (numbered as in the code):
 *  1. validate (EPROTOCOL on a bad one; nothing else is affected);
 *  2. dedup: a mutation whose id was applied (dedup.ts) is acknowledged again, not re-applied (with the
 *     sender's latest applied version, which is at or after that mutation's own), and never before that
 *     version is committed: a repeat of a mutation still in a group commit waits for it;
 *  3. a dispatched action runs its reducer (on a frozen state) and becomes the batch it produced; then
 *     apply to the in-memory document (version + 1; the document stays deeply frozen);
 *  4. append to the journal (group commit) and only then ack the sender and send `change` to everyone.
 * Every acknowledgement (durable, `durable: false`, repeat) is given only right after the lease check
 * (`guard`) passed: an owner that may have lost its lease acknowledges nothing, and the mutation stays
 * with its sender for the next owner. A journal failure rejects the mutation and makes this owner step
 * down (its lease is released), so the next owner rebuilds a consistent state from disk; the senders
 * replay to it.
 */
import { LeaseholdError } from '../errors.js';
import { apply, validateMutation, type Doc, type Json, type Mutation } from './document.js';
import { applyFrozen, freezeDeep, reduce, type Reducers } from './reducers.js';
import type { Log, Recovered } from './journal/index.js';
import { fromStored, recordApplied, wasApplied, type Applied } from './dedup.js';
import { applyInPlace } from './replay.js';
import { WideObject, view } from './wide-object.js';
import { WideArray } from './wide-array.js';
import type { StateCheck } from './schema.js';
import { runMigrations, type StateVersioning } from './migrations.js';
import { systemClock, type Clock } from '../clock.js';

/**
 * A snapshot is also due once the entries since the last one add up to this fraction of its size, and at
 * least SNAPSHOT_MIN_ENTRY_BYTES (as a log-structured store rewrites its log at a growth percentage with a
 * minimum size): entries parse and apply slower per byte than a snapshot loads, so this keeps a new owner's
 * replay within about half of its snapshot's load for a small state, at the cost of writing the snapshot
 * (small, then) more often. Large states reach `compactEvery` entries first.
 */
const SNAPSHOT_GROWTH = 0.25;
const SNAPSHOT_MIN_ENTRY_BYTES = 64 * 1024;
/** …and at most one such snapshot a second, however fast small entries arrive (each one syncs files). */
const SNAPSHOT_BY_BYTES_INTERVAL_MS = 1000;

/** A lease lost after migrations that ran at least this long is blamed on them (EMIGRATION), not retried. */
const MIGRATION_BLAMED_MS = 250;

/**
 * A new owner whose recovered entries make a snapshot due already starts it this long after recovery (once
 * its followers are welcomed), not at its first commit, which may not come for hours.
 */
const RECOVERED_SNAPSHOT_DELAY_MS = 1000;

/** A snapshot starts at least compactEvery / EARLY_MIN_FRACTION entries early, and EARLY_MARGIN × the last lead. */
const EARLY_MIN_FRACTION = 10;
const EARLY_MARGIN = 1.5;

/** After this many times `compactEvery` entries without a snapshot, one is taken even inside a group. */
const COMPACT_ANYWHERE = 16;

export interface Committed {
  v: number;
  m: Json;
  id: [string, number] | null;
  /** `m` as JSON text, when this owner serialized it already. */
  json?: string;
}

function steppingDown(): LeaseholdError {
  return new LeaseholdError('ELOST', 'this owner is stepping down after a journal failure; retry with the next owner', { reason: 'io' });
}

function sameId(a: [string, number] | null, b: [string, number] | null): boolean {
  return a === null || b === null ? a === b : a[0] === b[0] && a[1] === b[1];
}

export class OwnerState {
  /** The document as held (wide objects as WideObjects: wide-object.ts); never modified, deeply frozen. */
  #state: Doc;
  #version: number;
  /** The version of the state's shape (state/migrations.ts). */
  #stateVersion: number;
  /** Set when the state's version changed without an entry saying so yet: the next entry says it. */
  #stateVersionUnwritten = false;
  readonly #dedup: Map<string, Applied>;
  readonly #journal: Log;
  readonly #guard: () => void;
  readonly #epoch: number;
  readonly #maxValueBytes: number;
  readonly #reducers: Reducers;
  /** Recent committed changes, for followers that reconnect at a recent version. */
  readonly #recent: Committed[] = [];
  readonly #recentMax: number;
  #failed: unknown;
  /** State as of the last flushed entry (documents are immutable, so this shares structure). */
  #committed: {
    state: Doc;
    version: number;
    lastId: [string, number] | null | undefined;
    /** The state's version as of the last flushed entry (a migration's is set before its entry is written). */
    stateVersion: number;
    dedup: Map<string, Applied>;
  };
  readonly #compactEvery: number;
  #snapshotVersion: number;
  /** The id of change `#version`; undefined when not known (a snapshot's version, nothing after it). */
  #lastId: [string, number] | null | undefined;
  #compacting = false;
  /** Characters of the entries committed by this owner (ASCII, as nearly all are: about their bytes)… */
  #committedChars = 0;
  /** …up to the last durable snapshot's version. */
  #charsAtSnapshot = 0;
  /** When the last snapshot started (monotonic ms). */
  #snapshotStartedAt = -Infinity;
  readonly #clock: Clock;
  readonly #check: StateCheck | undefined;
  /** The newest journal append: appends resolve in order, so awaiting it awaits every earlier one. */
  #lastAppend: Promise<void> = Promise.resolve();
  /** Called in version order for every commit, with the document as of that version (frozen). */
  onCommit: (c: Committed, state: Doc) => void = () => undefined;
  onFailure: (err: unknown) => void = () => undefined;

  constructor(
    journal: Log,
    recovered: Recovered,
    epoch: number,
    options: {
      /** Throws when this process may no longer act as owner (the lease check); run before every ack. */
      guard: () => void;
      maxValueBytes: number;
      recentMax?: number;
      /** Snapshot after this many entries. @default 10000 */
      compactEvery?: number;
      reducers?: Reducers;
      /** The app's schema (schema.ts): the state each mutation would produce must pass it. */
      check?: StateCheck;
      /** @default systemClock */
      clock?: Clock;
      /**
       * The replica's document when `recovered.fromReplica` is set (the history holds it at that version):
       * the owner starts from it and applies only the entries after it.
       */
      replica?: Doc;
    },
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#check = options.check;
    this.#journal = journal;
    this.#guard = options.guard;
    this.#epoch = epoch;
    this.#maxValueBytes = options.maxValueBytes;
    this.#reducers = options.reducers ?? {};
    this.#recentMax = options.recentMax ?? 10_000;
    const from = recovered.fromReplica;
    if (from !== undefined && options.replica === undefined) throw new Error('recovered from a replica, but none was given');
    this.#state = (from !== undefined ? options.replica : recovered.snapshot?.state) ?? {};
    this.#version = from ?? recovered.snapshot?.version ?? 0;
    this.#stateVersion = recovered.stateVersion ?? recovered.snapshot?.stateVersion ?? 0;
    this.#dedup = new Map(Object.entries(recovered.snapshot?.dedup ?? {}).map(([k, x]) => [k, fromStored(x)]));
    // A new owner rebuilds the exact state from disk before it serves. The recovered document is its own
    // until then, so the entries change it in place (replay.ts); a frozen one (given, not read from disk)
    // takes the copy-on-write way.
    const inPlace = !Object.isFrozen(this.#state) && !(this.#state instanceof WideObject) && !(this.#state instanceof WideArray);
    for (const e of recovered.entries) {
      // (Up to the replica's version, for the dedup table only: the replica has them.)
      if (e.v > this.#version) {
        this.#state = inPlace ? applyInPlace(this.#state as Json, e.m as Mutation) : apply(this.#state, e.m as Mutation);
        this.#version = e.v;
      }
      if (e.id) this.#dedup.set(e.id[0], recordApplied(this.#dedup.get(e.id[0]), e.id[1], e.v));
    }
    // The newest recovered changes too: followers that reconnect after a failover catch up from them, and
    // their `at` (the id of their last change) is checked against them.
    for (const e of recovered.entries.slice(-this.#recentMax)) this.#recent.push({ v: e.v, m: e.m, id: e.id });
    this.#lastId = recovered.entries.length > 0 ? recovered.entries.at(-1)!.id : recovered.snapshot?.at;
    freezeDeep(this.#state);
    this.#committed = {
      state: this.#state,
      version: this.#version,
      lastId: this.#lastId,
      stateVersion: this.#stateVersion,
      dedup: new Map(this.#dedup),
    };
    this.#compactEvery = options.compactEvery ?? 10_000;
    this.#snapshotVersion = recovered.snapshot?.version ?? 0;
    this.#charsAtSnapshot = -(recovered.entriesBytes ?? 0); // the recovered entries follow the snapshot too
    if (recovered.entries.length > 0) this.#clock.setTimeout(() => this.#startSnapshotIfDueNow(), RECOVERED_SNAPSHOT_DELAY_MS);
  }

  /** The version of the last snapshot written (compaction). */
  get snapshotVersion(): number {
    return this.#snapshotVersion;
  }

  #commit(v: number, state: Doc, id: [string, number] | null, applied: Applied | undefined, chars: number): void {
    this.#committedChars += chars;
    this.#committed.state = state;
    this.#committed.version = v;
    this.#committed.lastId = id;
    this.#committed.stateVersion = this.#stateVersion;
    if (id) this.#committed.dedup.set(id[0], applied!);
    this.#startSnapshotIfDue();
  }

  /** A snapshot of the committed state if one is due, outside a commit (a timer, a compaction's end). */
  #startSnapshotIfDueNow(): void {
    try {
      if (!this.#failed) this.#startSnapshotIfDue();
    } catch {
      // not fatal (nothing is lost: the journal has every entry); the next commit tries again
    }
  }

  /** A snapshot of the committed state (version, document, the id of its change, its state version), if due. */
  #startSnapshotIfDue(): void {
    const { version: v, state, lastId: at } = this.#committed;
    // At the end of what is written (the last commit of a group: commits run before the next group is
    // written), so that the next part starts right after the snapshot and every part before it can go.
    // Anywhere only as a last resort: a snapshot inside a group leaves that part on disk until the next.
    // Early by the entries that arrived while the last one was written, and half as many again (the state,
    // and so the next snapshot's time, may have grown), at least a tenth of compactEvery, at most half: the
    // journal on disk peaks at the older snapshot's entries when this one is durable, near compactEvery.
    const lead = this.#journal.lead ?? 0;
    const early = Math.min(this.#compactEvery / 2, Math.max(this.#compactEvery / EARLY_MIN_FRACTION, lead * EARLY_MARGIN));
    const due = v - this.#snapshotVersion + early;
    // Or when the entries since the last snapshot reach a fraction of its size: replaying them then costs
    // about what loading the snapshot does, so a takeover's time follows the state's size.
    const grown =
      this.#committedChars - this.#charsAtSnapshot >=
        Math.max(SNAPSHOT_MIN_ENTRY_BYTES, (this.#journal.snapshotBytes ?? 0) * SNAPSHOT_GROWTH) &&
      this.#clock.now() - this.#snapshotStartedAt >= SNAPSHOT_BY_BYTES_INTERVAL_MS;
    if (
      (due >= this.#compactEvery || grown) &&
      !this.#compacting &&
      (v === this.#journal.written || due >= COMPACT_ANYWHERE * this.#compactEvery)
    ) {
      this.#compacting = true;
      this.#snapshotStartedAt = this.#clock.now();
      const chars = this.#committedChars;
      // The snapshot writer walks wide nodes itself (json-slices.ts); any other JSON.stringify of the
      // state gets their plain view through toJSON.
      const snap = {
        version: v,
        epoch: this.#epoch,
        stateVersion: this.#committed.stateVersion,
        at,
        state: state as Json,
        dedup: Object.fromEntries(this.#committed.dedup),
      };
      this.#journal.compact(snap, () => (this.#journal.written - snap.version) / this.#compactEvery).then(
        () => {
          this.#snapshotVersion = snap.version;
          this.#charsAtSnapshot = chars;
          this.#compacting = false;
          // The entries that came while it was written may have made the next one due: after a burst no
          // commit comes to start it, and the journal would keep them (and a takeover replay them) until
          // the next mutation.
          this.#startSnapshotIfDueNow();
        },
        () => {
          this.#compacting = false; // not fatal: the journal still has everything; try again later
        },
      );
    }
  }

  /** The document as held: JSON.stringify gives its JSON; `view()` (wide-object.ts) its plain value. */
  get state(): Doc {
    return this.#state;
  }
  get version(): number {
    return this.#version;
  }
  /** The id of the change that made `version` (null: the owner's own), when known. */
  get lastId(): [string, number] | null | undefined {
    return this.#lastId;
  }
  /**
   * The state as of the last flushed entry, its version and the id of its change: what a follower may be
   * given whole (`state` and `version` may be ahead of it by non-durable changes not yet written, which a
   * crash loses; a replica holding one would differ from the next owner's history at that version).
   */
  get committed(): { readonly state: Doc; readonly version: number; readonly lastId: [string, number] | null | undefined } {
    return this.#committed;
  }
  /** The version of the state's shape (state/migrations.ts). */
  get stateVersion(): number {
    return this.#stateVersion;
  }

  /** `"s":N,` for the entry being written when the state's version changed since the last one; else ''. */
  #stateVersionField(): string {
    if (!this.#stateVersionUnwritten) return '';
    this.#stateVersionUnwritten = false;
    return `"s":${this.#stateVersion},`;
  }

  /**
   * Brings the state to the code's version before this owner serves (state/migrations.ts). On a data root
   * with no state yet the version is only recorded (in the first entry written); otherwise the pending
   * migrations run and their result is journaled as one durable entry, which resolves once it is; a
   * migration that fails, a result the schema refuses, or migrations that ran so long that the lease was
   * lost meanwhile, throw EMIGRATION with nothing applied or written. A stored version above the code's
   * never reaches this: the journal's `accept` refuses it.
   */
  async migrate(versioning: StateVersioning): Promise<void> {
    const to = versioning.stateVersion;
    if (this.#failed) throw steppingDown();
    if (to === undefined || this.#stateVersion >= to) return;
    if (this.#version === 0) {
      this.#stateVersion = to;
      this.#stateVersionUnwritten = true;
      return;
    }
    const started = this.#clock.now();
    const m: Mutation = { op: 'set', path: '', value: runMigrations(view(this.#state), this.#stateVersion, versioning) };
    const state = applyFrozen(this.#state, m);
    try {
      this.#check?.(view(state));
    } catch (cause) {
      throw new LeaseholdError('EMIGRATION', `the state after the migrations to ${to} fails the schema: ${(cause as Error).message}`, {
        field: String(to),
        cause,
      });
    }
    // The migrations ran on the loop, where the lease's renewals run too: a lease lost meanwhile would be
    // lost again by every takeover (each claiming an epoch), so it is this code's failure, not the lease's.
    const took = this.#clock.now() - started;
    try {
      this.#guard();
    } catch (cause) {
      if (took < MIGRATION_BLAMED_MS) throw cause;
      throw new LeaseholdError(
        'EMIGRATION',
        `the migrations to ${to} ran for ${Math.round(took)} ms and the lease was lost meanwhile (its renewals wait for them): raise ttlMs well above that, or make them faster`,
        { field: String(to), cause },
      );
    }
    const v = this.#version + 1;
    this.#state = state;
    this.#version = v;
    this.#lastId = null;
    this.#stateVersion = to;
    this.#stateVersionUnwritten = true;
    const entry = `{"t":"m","v":${v},"e":${this.#epoch},"id":null,${this.#stateVersionField()}"m":${JSON.stringify(m)}}`;
    const appended = this.#journal.append(v, entry, true);
    this.#lastAppend = appended;
    try {
      await appended;
    } catch (err) {
      if (!this.#failed) {
        this.#failed = err;
        this.onFailure(err);
      }
      throw err;
    }
    this.#commit(v, state, null, undefined, entry.length);
    // Followers behind it resynchronize from a snapshot rather than get the whole state as one change.
    this.#recent.length = 0;
    this.#guard();
  }

  /**
   * Changes after `since`, or undefined when the follower needs a snapshot instead: they are no longer
   * kept, or `at` (the id of the follower's own change `since`, when it knows it) differs from this
   * owner's change `since`, or that change cannot be checked: the follower's history is not this one's.
   */
  since(since: number, at?: [string, number] | null): Committed[] | undefined {
    if (since > this.#version) return undefined;
    const first = this.#recent[0];
    if (at !== undefined && since > 0) {
      const mine = first ? this.#recent[since - first.v] : undefined;
      if (!mine || mine.v !== since || !sameId(mine.id, at)) return undefined;
    }
    if (since === this.#version) return [];
    if (!first || first.v > since + 1) return undefined;
    return this.#recent.slice(since + 1 - first.v);
  }

  /**
   * Applies and commits; resolves with the version once it is journaled (durable) or, with
   * `durable: false`, once it is applied (its journal append and commit still follow, in order).
   */
  async mutate(raw: unknown, id: [string, number] | null, options: { durable?: boolean } = {}): Promise<number> {
    if (this.#failed) throw steppingDown();
    // 1.
    let m = validateMutation(raw, this.#maxValueBytes);
    // 2.
    if (id) {
      const last = this.#dedup.get(id[0]);
      if (wasApplied(last, id[1])) {
        if (last!.v > this.#committed.version) await this.#lastAppend;
        this.#guard();
        return last!.v;
      }
    }
    // 3.
    if (m.op === 'dispatch') {
      // Even an action that changes nothing gets a version (an empty batch): its id is then applied once.
      m = reduce(this.#reducers, this.#state, m, this.#maxValueBytes);
    }
    const state = applyFrozen(this.#state, m);
    // 3a. The app's schema, on the state this would produce (ESCHEMA: nothing applied).
    this.#check?.(view(state));
    const v = this.#version + 1;
    this.#state = state;
    this.#version = v;
    this.#lastId = id;
    const applied = id ? recordApplied(this.#dedup.get(id[0]), id[1], v) : undefined;
    if (id) this.#dedup.set(id[0], applied!);
    // 4. (The mutation is serialized once, for the journal entry and for the followers' change.)
    const json = JSON.stringify(m);
    const entry = `{"t":"m","v":${v},"e":${this.#epoch},"id":${JSON.stringify(id)},${this.#stateVersionField()}"m":${json}}`;
    const durable = options.durable !== false;
    const appended = this.#journal.append(v, entry, durable);
    this.#lastAppend = appended;
    const committed = appended.then(
      () => {
        this.#commit(v, state, id, applied, entry.length);
        const c: Committed = { v, m: m as unknown as Json, id, json };
        this.#recent.push(c);
        // Trimmed in chunks: dropping one from the front of a full list each time is O(n) per commit.
        if (this.#recent.length >= 2 * this.#recentMax) this.#recent.splice(0, this.#recent.length - this.#recentMax);
        this.onCommit(c, state);
        // Committed whatever follows; but acknowledged only by an owner that still holds its lease.
        if (durable) this.#guard();
        return v;
      },
      (err: unknown) => {
        if (!this.#failed) {
          this.#failed = err;
          this.onFailure(err);
        }
        throw err;
      },
    );
    if (!durable) {
      committed.catch(() => undefined); // the failure is reported through onFailure (the owner steps down)
      // Acknowledged before its flush, so never by an owner whose lease may be gone: a successor may already
      // have fenced this journal, and the flush would be refused.
      this.#guard();
      return v;
    }
    return committed;
  }
}
