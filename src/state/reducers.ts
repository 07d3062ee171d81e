/**
 * `dispatch(action)`: app reducers that run on the owner only (the Redux model, across processes).
 *
 * A reducer is `(state, payload) => nextState`, registered under an action type with
 * `join({ reducers })`. The owner runs it on its authoritative state, then diffs the result against that
 * state by identity (unchanged subtrees are the same objects, as a Redux reducer returns them) and turns
 * the difference into one `batch` mutation: that batch, not the action, is journaled and sent to the
 * followers, so replaying the journal never runs app code and followers need no reducers.
 *
 * Guarantees: the state a reducer receives is deeply frozen (a reducer that writes to it throws, in strict
 * code, and the dispatch is rejected with EREDUCER); a reducer that throws, is not registered, or returns
 * something that is not a JSON object is rejected to the sender with EREDUCER, and nothing changes.
 * Not guaranteed: that a reducer is pure or deterministic (it runs once, on whichever instance owns).
 * Cost: the reducer gets the document's plain view (wide-object.ts), so a dispatch pays O(width) for each
 * wide object changed since the last one was viewed, and the result is checked in full (`checkJson`).
 */
import { LeaseholdError } from '../errors.js';
import { checkJson, FORBIDDEN_KEYS, parsePath, validateMutation, type Doc, type Json, type Mutation } from './document.js';
import { view, WideObject } from './wide-object.js';

/** `State` is the app's own type for the state (a promise of the app's, not checked: the result must be JSON). */
export type Reducer<State = Json> = (state: State, payload: Json | undefined) => State;
export type Reducers<State = Json> = Readonly<Record<string, Reducer<State>>>;

const addressable = (k: string) => k.length > 0 && !k.includes('.') && !FORBIDDEN_KEYS.has(k);
const isObject = (v: Json | undefined): v is { [k: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The mutations that turn `a` into `b` (by identity: equal subtrees that are the same object are skipped). */
export function diff(a: Json, b: Json, path = '', out: Mutation[] = []): Mutation[] {
  if (a === b) return out;
  const at = (k: string | number) => (path === '' ? String(k) : `${path}.${k}`);
  if (isObject(a) && isObject(b) && Object.keys(a).every(addressable) && Object.keys(b).every(addressable)) {
    for (const k of Object.keys(a)) if (!Object.prototype.hasOwnProperty.call(b, k)) out.push({ op: 'delete', path: at(k) });
    for (const k of Object.keys(b)) {
      if (!Object.prototype.hasOwnProperty.call(a, k)) out.push({ op: 'set', path: at(k), value: b[k]! });
      else diff(a[k]!, b[k]!, at(k), out);
    }
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b) && path !== '' && b.length >= a.length && a.every((x, i) => x === b[i])) {
    for (const x of b.slice(a.length)) out.push({ op: 'push', path, value: x });
    return out;
  }
  if (path === '') throw new LeaseholdError('EREDUCER', 'a reducer must return an object (the state root)');
  out.push({ op: 'set', path, value: b });
  return out;
}

/** A WideObject never changes; it is "frozen" when its values all are (deeply). */
const isFrozen = (v: object) => (v instanceof WideObject ? v.frozen : Object.isFrozen(v));
const freezeOne = (v: object) => (v instanceof WideObject ? (v.frozen = true) : Object.freeze(v));

/** Freezes `v` and everything under it that is not frozen yet (already-frozen subtrees are skipped). */
export function freezeDeep(v: Doc): Doc {
  if (v !== null && typeof v === 'object' && !isFrozen(v)) {
    freezeOne(v);
    if (v instanceof WideObject) v.forEachValue(freezeDeep);
    else for (const x of Array.isArray(v) ? v : Object.values(v)) freezeDeep(x);
  }
  return v;
}

/**
 * Freezes what `apply(doc, m)` created, in a document whose other nodes are frozen already: the new values
 * at each changed path (deeply), then the copied nodes along those paths. The same result as `freezeDeep`,
 * without visiting the siblings of every copied node (a mutation of one key of a 1 000-key object would
 * otherwise check 1 000). The values go first: `freezeDeep` skips a frozen node as wholly frozen, and a
 * path of one operation may run through the new value of another (in a batch). A WideObject on a path is
 * immutable already: it is marked as wholly frozen, as a plain node is frozen.
 */
export function freezeChanged(doc: Doc, m: Mutation): Doc {
  const ops = m.op === 'batch' ? m.ops : [m];
  if (ops.some((op) => op.op === 'dispatch' || op.op === 'batch')) return freezeDeep(doc);
  const walk = (path: string, freezeOnTheWay: boolean): Doc | undefined => {
    let node: Doc | undefined = doc;
    for (const seg of parsePath(path)) {
      if (node === null || typeof node !== 'object') return undefined;
      if (freezeOnTheWay && !isFrozen(node)) freezeOne(node);
      node = node instanceof WideObject ? node.get(seg) : (node as Record<string, Doc>)[seg];
    }
    return node;
  };
  for (const op of ops) {
    const value = walk((op as { path: string }).path, false);
    if (value !== undefined) freezeDeep(value);
  }
  for (const op of ops) walk((op as { path: string }).path, true);
  return freezeDeep(doc); // the root: frozen on the way already, unless no path ran through it
}

/** Runs the reducer for `action` on `state`; returns the batch that makes the change (empty: no change). */
export function reduce(reducers: Reducers, state: Doc, action: { type: string; payload?: Json }, maxValueBytes: number): Mutation {
  const reducer = Object.prototype.hasOwnProperty.call(reducers, action.type) ? reducers[action.type] : undefined;
  if (typeof reducer !== 'function')
    throw new LeaseholdError(
      'EREDUCER',
      `no reducer is registered for action "${action.type}" on the owner; pass it in join({ reducers })`,
    );
  let next: Json;
  // The reducer sees plain JSON: the document's view (wide-object.ts), as frozen as the document.
  const plain = view(freezeDeep(state));
  try {
    next = reducer(plain, action.payload);
  } catch (err) {
    throw new LeaseholdError('EREDUCER', `the reducer for "${action.type}" threw: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  }
  if (!isObject(next))
    throw new LeaseholdError(
      'EREDUCER',
      `the reducer for "${action.type}" returned ${next === null ? 'null' : typeof next}, not an object`,
    );
  try {
    checkJson(next, `(state after ${action.type})`, Number.MAX_SAFE_INTEGER);
    return validateMutation({ op: 'batch', ops: diff(plain, next) }, maxValueBytes);
  } catch (err) {
    if (err instanceof LeaseholdError && err.code === 'EREDUCER') throw err;
    throw new LeaseholdError('EREDUCER', `the reducer for "${action.type}" returned an invalid state: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
