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
 * wide object or long array changed since the last one was viewed, and the result is checked in full (`checkJson`).
 */
import { LeaseholdError } from '../errors.js';
import { apply, checkJson, FORBIDDEN_KEYS, parsePath, validateMutation, type Doc, type Json, type Mutation } from './document.js';
import { view, WideObject } from './wide-object.js';
import { WideArray } from './wide-array.js';
import type { Action, ActionLike, PayloadOf } from './json.js';

/** `State` is the app's own type for the state (a promise of the app's, not checked: the result must be JSON). */
export type Reducer<State = Json, Payload = Json | undefined> = (state: State, payload: Payload) => State;
/**
 * One reducer per action type of `Actions` (`join<State, Actions>()`), each given that action's payload;
 * with the default, any type and any JSON payload.
 */
export type Reducers<State = Json, Actions extends ActionLike = Action> = Readonly<{
  [K in Actions['type']]: Reducer<State, PayloadOf<Actions, K>>;
}>;

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

/** A WideObject or WideArray never changes; it is "frozen" when its values all are (deeply). */
const isFrozen = (v: object) => (v instanceof WideObject || v instanceof WideArray ? v.frozen : Object.isFrozen(v));
const freezeOne = (v: object) => (v instanceof WideObject || v instanceof WideArray ? (v.frozen = true) : Object.freeze(v));

/** Freezes `v` and everything under it that is not frozen yet (already-frozen subtrees are skipped). */
export function freezeDeep(v: Doc): Doc {
  if (v !== null && typeof v === 'object' && !isFrozen(v)) {
    freezeOne(v);
    if (v instanceof WideObject || v instanceof WideArray) v.forEachValue(freezeDeep);
    else for (const x of Array.isArray(v) ? v : Object.values(v)) freezeDeep(x);
  }
  return v;
}

/**
 * `apply(doc, m)` on a deeply frozen document, with the result deeply frozen too: after each operation
 * (of a batch, one at a time), what it created is frozen: the value it carried (deeply: `apply` puts it
 * into the document as it is), the copied nodes along its path, and the node at the end of its path (an
 * array pushed onto or removed from, shallowly: its other elements are old). The same result as
 * `freezeDeep`, without visiting the siblings of every copied node (a mutation of one key of a 1 000-key
 * object would otherwise check 1 000, a push onto a long array every element). One operation at a time,
 * because a later one can move what an earlier one created (a `remove-at` shifts the elements after it).
 * A wide node (WideObject, WideArray) is immutable already: it is marked as wholly frozen, as a plain node
 * is frozen. Throws as `apply` does, leaving `doc` as it was.
 */
export function applyFrozen(doc: Doc, m: Mutation): Doc {
  if (m.op === 'batch') {
    for (const op of m.ops) doc = applyFrozen(doc, op);
    return doc;
  }
  const next = apply(doc, m);
  if (m.op === 'dispatch') return freezeDeep(next); // (apply refuses it: resolved by `reduce` first)
  if (m.op === 'set' || m.op === 'push') freezeDeep(m.value as Doc);
  let node: Doc | undefined = next;
  for (const seg of parsePath(m.path)) {
    if (node === null || typeof node !== 'object') break;
    if (!isFrozen(node)) freezeOne(node);
    node = node instanceof WideObject ? node.get(seg) : node instanceof WideArray ? node.get(Number(seg)) : (node as Record<string, Doc>)[seg];
  }
  if (node !== null && typeof node === 'object' && !isFrozen(node)) freezeOne(node);
  return freezeDeep(next); // the root: frozen on the way already, unless the path was the root
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
