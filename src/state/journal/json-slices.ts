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

/** Containers this small, holding only scalars, are serialized with one JSON.stringify call. */
const FLAT_MAX = 64;

function flat(values: readonly unknown[]): boolean {
  if (values.length > FLAT_MAX) return false;
  for (const v of values) if (typeof v === 'object' && v !== null) return false;
  return true;
}

/** The JSON text of `value` in pieces; an empty piece is a point where the caller may pause. */
function* pieces(value: Doc): Generator<string> {
  if (typeof value !== 'object' || value === null) {
    yield JSON.stringify(value);
    return;
  }
  if (value instanceof WideObject) {
    const gather = value.inOrder();
    let r: IteratorResult<void, readonly Entry[]>;
    while (!(r = gather.next()).done) yield '';
    const entries = r.value;
    yield* members(
      entries.length,
      (i) => entries[i]!.key,
      (i) => entries[i]!.value,
    );
    return;
  }
  if (Array.isArray(value)) {
    if (flat(value)) {
      yield JSON.stringify(value);
      return;
    }
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      yield* pieces(value[i] ?? null);
    }
    yield ']';
    return;
  }
  const keys = Object.keys(value);
  if (keys.length <= FLAT_MAX && flat(keys.map((k) => (value as Record<string, Doc>)[k]))) {
    yield JSON.stringify(value);
    return;
  }
  yield* members(
    keys.length,
    (i) => keys[i]!,
    (i) => (value as Record<string, Doc | undefined>)[keys[i]!],
  );
}

/** An object's text from its `count` keys and values, in order. */
function* members(count: number, key: (i: number) => string, valueAt: (i: number) => Doc | undefined): Generator<string> {
  let first = true;
  yield '{';
  for (let i = 0; i < count; i++) {
    const k = key(i);
    const v = valueAt(i);
    if (v === undefined) continue;
    yield `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    yield* pieces(v);
  }
  yield '}';
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
  for (const s of pieces(value)) {
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
