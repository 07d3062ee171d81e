/**
 * JSON text of a large value, produced a piece at a time so that serializing it never holds the event
 * loop for long: the caller gets the text in chunks of about `chunkChars`, and between chunks (or every
 * `sliceMs` of work) control goes back to the loop. The value must not change meanwhile (documents are
 * immutable: state/document.ts). The text is what JSON.stringify gives for the same JSON value. A
 * WideObject (state/wide-object.ts) is walked in its keys' order without building its plain view; only
 * the ordering of its keys, after they are gathered a slice at a time, is one step of O(width).
 */
import { nextTurn, type Clock } from '../../clock.js';
import { WideObject, type Doc, type Entry } from '../wide-object.js';
import { WideArray } from '../wide-array.js';

/**
 * A plain subtree that weighs at most this much (a value weighs 1, a string 1 more per 32 characters) is
 * serialized with one JSON.stringify call: native, and short enough not to hold the loop. Larger ones,
 * and WideObjects, are walked.
 */
const SMALL_WEIGHT = 2048;

/** What is left of `budget` after weighing `v`; negative: over it, or it holds a wide node. */
function countDown(v: Doc | undefined, budget: number): number {
  if (typeof v === 'string') return budget - 1 - (v.length >> 5);
  if (typeof v !== 'object' || v === null) return budget - 1;
  if (v instanceof WideObject || v instanceof WideArray) return -1;
  budget -= 1;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && budget >= 0; i++) budget = countDown(v[i], budget);
    return budget;
  }
  for (const k in v) {
    budget = countDown((v as Record<string, Doc>)[k], budget);
    if (budget < 0) return budget;
  }
  return budget;
}

const small = (v: Doc | undefined) => countDown(v, SMALL_WEIGHT) >= 0;

/** The JSON text of `value` in pieces; an empty piece is a point where the caller may pause. */
function* pieces(value: Doc, runChars: number): Generator<string> {
  if (typeof value !== 'object' || value === null || small(value)) {
    yield JSON.stringify(value);
    return;
  }
  if (value instanceof WideObject) {
    const gather = value.inOrder();
    let r: IteratorResult<void, readonly Entry[]>;
    while (!(r = gather.next()).done) yield '';
    const entries = r.value;
    yield* members(
      runChars,
      entries.length,
      (i) => entries[i]!.key,
      (i) => entries[i]!.value,
    );
    return;
  }
  if (Array.isArray(value)) {
    yield* members(runChars, value.length, undefined, (i) => value[i] ?? null);
    return;
  }
  if (value instanceof WideArray) {
    // In order, a chunk at a time (a lookup per element would cost O(log length) each).
    const elements: Doc[] = [];
    let chunks = 0;
    for (const c of value.chunks()) {
      for (const x of c) elements.push(x);
      if (++chunks % 128 === 0) yield '';
    }
    yield* members(runChars, elements.length, undefined, (i) => elements[i]!);
    return;
  }
  const keys = Object.keys(value);
  yield* members(
    runChars,
    keys.length,
    (i) => keys[i]!,
    (i) => (value as Record<string, Doc | undefined>)[keys[i]!],
  );
}

/**
 * An object's text from its `count` keys and values, in order (an array's, without `key`). Runs of small
 * members leave as one piece of about `runChars`; a large one is walked.
 */
function* members(
  runChars: number,
  count: number,
  key: ((i: number) => string) | undefined,
  valueAt: (i: number) => Doc | undefined,
): Generator<string> {
  let run = key ? '{' : '[';
  let first = true;
  for (let i = 0; i < count; i++) {
    const v = valueAt(i);
    if (v === undefined) continue;
    const head = `${first ? '' : ','}${key ? `${JSON.stringify(key(i))}:` : ''}`;
    first = false;
    if (small(v)) {
      run += head + JSON.stringify(v);
      if (run.length >= runChars) {
        yield run;
        run = '';
      }
      continue;
    }
    yield run + head;
    run = '';
    yield* pieces(v, runChars);
  }
  yield run + (key ? '}' : ']');
}

/** Calls `sink` with the JSON text of `value`, in order, a chunk at a time; yields to the loop between. */
export async function serializeInSlices(
  value: Doc,
  sink: (text: string) => Promise<void>,
  o: { clock: Clock; sliceMs: number; chunkChars: number },
): Promise<void> {
  let parts: string[] = [];
  let chars = 0;
  let n = 0;
  let t0 = o.clock.now();
  for (const s of pieces(value, o.chunkChars)) {
    parts.push(s);
    chars += s.length;
    if (chars >= o.chunkChars) {
      await sink(parts.join(''));
      parts = [];
      chars = 0;
      t0 = o.clock.now();
    } else if ((s === '' || (++n & 1023) === 0) && o.clock.now() - t0 >= o.sliceMs) {
      await nextTurn();
      t0 = o.clock.now();
    }
  }
  if (parts.length > 0) await sink(parts.join(''));
}
