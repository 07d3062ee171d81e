/**
 * observe(): one wait loop for every wait on a record. A scripted store on a fake clock shows when each read
 * starts, and that nothing stays registered once the wait settles, whichever way it settles.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { FakeClock } from '../../src/clock.js';
import { LeaseholdError } from '../../src/errors.js';
import { holderChanged, observe, waitForHolderChange, type Observation } from '../../src/lease/observe.js';
import type { LeaseRecord } from '../../src/lease/record.js';
import type { LeaseState } from '../../src/lease/store.js';

const KEY = '/app/observe/owner';

const record = (instanceId: string, epoch: number): LeaseRecord =>
  ({ instanceId, epoch, key: KEY, releasedAt: null, pins: [], meta: {} }) as unknown as LeaseRecord;

/** A store whose state the test sets; reads take `readMs` on the clock when set, and are counted. */
class ScriptedStore {
  state: LeaseState | Error = { state: 'free', reason: 'none' };
  reads: number[] = [];
  readMs = 0;
  readonly watchers = new Set<() => void>();
  constructor(private readonly clock: FakeClock) {}
  async describe(): Promise<LeaseState> {
    this.reads.push(this.clock.now());
    if (this.readMs > 0) await new Promise<void>((r) => this.clock.setTimeout(r, this.readMs));
    if (this.state instanceof Error) throw this.state;
    return this.state;
  }
  watch(_key: unknown, onChange: () => void): () => void {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }
  /** Changes the state and notifies, as a store does on a write. */
  set(state: LeaseState): void {
    this.state = state;
    for (const w of [...this.watchers]) w();
  }
}

const held = (instanceId: string, epoch: number): LeaseState => ({ state: 'held', record: record(instanceId, epoch) });
const heldBy = (id: string) => (seen: Observation) => (seen.state === 'held' && seen.record.instanceId === id ? seen.record : undefined);
const code = (err: unknown) => (err instanceof LeaseholdError ? err.code : undefined);

function setup() {
  const clock = new FakeClock({ now: 0 });
  const store = new ScriptedStore(clock);
  /** Nothing observe registered is left: no watcher, no timer, no abort listener on `signals`. */
  const assertNothingLeft = (...signals: AbortSignal[]) => {
    assert.equal(store.watchers.size, 0, 'watchers left');
    assert.equal(clock.pendingTimers, 0, 'timers left');
    for (const s of signals) assert.equal(getEventListeners(s, 'abort').length, 0, 'abort listeners left');
  };
  return { clock, store, assertNothingLeft };
}

/** Settles `p` into an observable outcome without letting it reject unhandled. */
function track<T>(p: Promise<T>) {
  const out: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(out, { value, settled: true }),
    (error) => Object.assign(out, { error, settled: true }),
  );
  return out;
}

describe('observe', () => {
  it('reads at once, then every pollIntervalMs after the previous read ended, and resolves with the accepted value', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    store.readMs = 2;
    const signal = new AbortController().signal;
    const out = track(observe(store, KEY, heldBy('B'), { clock, pollIntervalMs: 25, signal }));
    await clock.advance(0);
    assert.deepEqual(store.reads, [0]);
    await clock.advance(60);
    // each read ends 2 ms after it starts; the pause counts from there
    assert.deepEqual(store.reads, [0, 27, 54]);
    store.state = held('B', 2); // no notification: found by the next poll
    await clock.advance(27);
    assert.deepEqual(store.reads, [0, 27, 54, 81]);
    assert.equal(out.settled, true);
    assert.equal(out.value?.instanceId, 'B');
    assertNothingLeft(signal);
  });

  it('reads at a change notification without waiting for the poll', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    const out = track(observe(store, KEY, heldBy('B'), { clock, pollIntervalMs: 1000 }));
    await clock.advance(5);
    store.set(held('B', 2));
    await clock.advance(0);
    assert.deepEqual(store.reads, [0, 5]);
    assert.equal(out.value?.epoch, 2);
    assertNothingLeft();
  });

  it('reads again at once when a notification came during a read (the read may have missed the change)', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    store.readMs = 10;
    const out = track(observe(store, KEY, heldBy('B'), { clock, pollIntervalMs: 1000 }));
    await clock.advance(5);
    // The read that started at 0 returns A; the change lands while it runs.
    const wasA = store.state;
    store.set(held('B', 2));
    store.state = wasA;
    await clock.advance(5);
    assert.deepEqual(store.reads, [0, 10]);
    store.state = held('B', 2);
    await clock.advance(10);
    assert.equal(out.value?.instanceId, 'B');
    assertNothingLeft();
  });

  it('rejects with ETIMEOUT at the deadline: the last pause is cut short and no read starts at it', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    const out = track(observe(store, KEY, heldBy('B'), { clock, pollIntervalMs: 25, deadline: 60 }));
    await clock.advance(59);
    assert.deepEqual(store.reads, [0, 25, 50]);
    assert.equal(out.settled, false);
    await clock.advance(1);
    assert.equal(code(out.error), 'ETIMEOUT');
    assert.deepEqual(store.reads, [0, 25, 50]);
    assertNothingLeft();
  });

  it('with a deadline already passed, rejects without reading', async () => {
    const { clock, store, assertNothingLeft } = setup();
    await clock.advance(10);
    const out = track(observe(store, KEY, () => true, { clock, pollIntervalMs: 25, deadline: 10 }));
    await clock.advance(0);
    assert.equal(code(out.error), 'ETIMEOUT');
    assert.deepEqual(store.reads, []);
    assertNothingLeft();
  });

  it('rejects with the reason of whichever signal aborts, at once, and removes its listeners from all', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    const a = new AbortController();
    const b = new AbortController();
    const out = track(observe(store, KEY, heldBy('B'), { clock, pollIntervalMs: 25, signal: [a.signal, b.signal] }));
    await clock.advance(10);
    assert.equal(getEventListeners(a.signal, 'abort').length, 1);
    b.abort(new Error('stop'));
    await clock.advance(0);
    assert.match(String(out.error), /stop/);
    assert.deepEqual(store.reads, [0]);
    assertNothingLeft(a.signal, b.signal);
  });

  it('aborted while a read is under way: rejects at once and ignores that read', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('B', 2);
    store.readMs = 10;
    const ac = new AbortController();
    let looked = 0;
    const out = track(observe(store, KEY, (s) => (looked++, heldBy('B')(s)), { clock, pollIntervalMs: 25, signal: ac.signal }));
    await clock.advance(5);
    ac.abort();
    await clock.advance(0);
    assert.equal(out.settled, true);
    assert.ok(out.error !== undefined);
    await clock.advance(10);
    assert.equal(looked, 0);
    assertNothingLeft(ac.signal);
  });

  it('with an aborted signal, rejects with EABORTED when the signal has no reason, without reading', async () => {
    const { clock, store, assertNothingLeft } = setup();
    const signal = { aborted: true, reason: undefined } as unknown as AbortSignal;
    await assert.rejects(
      observe(store, KEY, () => true, { clock, pollIntervalMs: 25, signal }),
      (e) => code(e) === 'EABORTED',
    );
    assert.deepEqual(store.reads, []);
    assertNothingLeft();
  });

  it('notifications off: registers no watcher; readAtOnce off: the first read after one interval', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    const out = track(observe(store, KEY, heldBy('B'), { clock, pollIntervalMs: 100, notifications: false, readAtOnce: false }));
    await clock.advance(0);
    assert.equal(store.watchers.size, 0);
    assert.deepEqual(store.reads, []);
    store.set(held('B', 2));
    await clock.advance(99);
    assert.deepEqual(store.reads, []);
    await clock.advance(1);
    assert.deepEqual(store.reads, [100]);
    assert.equal(out.value?.instanceId, 'B');
    assertNothingLeft();
  });

  it('a poll interval of 0 re-reads on the next timer turn, without timing out', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    let looks = 0;
    const out = track(observe(store, KEY, () => (++looks === 3 ? 'third' : undefined), { clock, pollIntervalMs: 0 }));
    await clock.advance(0);
    assert.equal(out.value, 'third');
    assert.deepEqual(store.reads, [0, 0, 0]);
    assertNothingLeft();
  });

  it('passes a failed read to the predicate, and rejects with what the predicate throws', async () => {
    const { clock, store, assertNothingLeft } = setup();
    const failure = new Error('EIO here');
    store.state = failure;
    const seen: Observation[] = [];
    const tolerant = track(
      observe(store, KEY, (s) => (seen.push(s), seen.length === 2 ? 'second' : undefined), { clock, pollIntervalMs: 5 }),
    );
    await clock.advance(5);
    assert.equal(tolerant.value, 'second');
    assert.deepEqual(seen, [
      { state: 'unreadable', error: failure },
      { state: 'unreadable', error: failure },
    ]);
    await assert.rejects(
      observe(
        store,
        KEY,
        (s) => {
          if (s.state === 'unreadable') throw s.error;
        },
        { clock, pollIntervalMs: 5 },
      ),
      /EIO here/,
    );
    assertNothingLeft();
  });
});

describe('holderChanged / waitForHolderChange', () => {
  it('is true when free or when any record (a claimed state included) names another holder or epoch', () => {
    const changed = holderChanged(record('A', 1));
    assert.equal(changed({ state: 'free', reason: 'released', record: record('A', 1) }), true);
    assert.equal(changed(held('A', 1)), undefined);
    assert.equal(changed(held('A', 2)), true);
    assert.equal(changed(held('B', 1)), true);
    assert.equal(changed({ state: 'unknown', reason: 'corrupt', path: 'p', message: 'm' }), undefined);
    assert.equal(changed({ state: 'unknown', reason: 'claimed', epoch: 2, message: 'm', record: record('A', 1) }), undefined);
    assert.equal(changed({ state: 'unknown', reason: 'claimed', epoch: 2, message: 'm', record: record('C', 0) }), true);
    assert.equal(holderChanged(undefined)(held('A', 1)), true);
    assert.throws(() => changed({ state: 'unreadable', error: new Error('x') }), /x/);
  });

  it('waits for the holder of its first read to change', async () => {
    const { clock, store, assertNothingLeft } = setup();
    store.state = held('A', 1);
    const out = track(waitForHolderChange(store, KEY, { clock, pollIntervalMs: 50 }));
    await clock.advance(100);
    assert.equal(out.settled, false);
    store.set(held('B', 2));
    await clock.advance(0);
    assert.equal(out.settled, true);
    assert.equal(out.error, undefined);
    assertNothingLeft();
  });
});
