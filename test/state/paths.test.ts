import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { replicaOf, SharedState, type Route } from '../../src/state/shared-state.js';
import type { Json, Mutation } from '../../src/state/json.js';
import type { ElementAt, Path, PathTo, ValueAt } from '../../src/state/paths.js';
import type { LeaseholdRendererApi } from '../../src/electron/renderer-api.js';

interface Todo {
  text: string;
  done: boolean;
}
interface AppState {
  todos?: Todo[];
  counter?: number;
  prefs: Record<string, string>;
  window: { bounds: { x: number; y: number }; title: string };
}

/** Compiles only when A and B are the same type. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(ok: Same<A, B>) => ok;

/** A replica whose mutations are recorded instead of sent. */
function recording<State>(): { state: SharedState<State>; sent: Mutation[] } {
  const sent: Mutation[] = [];
  const state = new SharedState<State>('I');
  const route: Route = { send: (_seq, m) => void sent.push(m) };
  replicaOf(state).setRoute(route);
  return { state, sent };
}

// Never called: each line must fail to compile (tsc checks the @ts-expect-error lines).
export function refusedByTheCompiler(s: SharedState<AppState>): void {
  // @ts-expect-error: not a path of AppState
  void s.set('nope', 1);
  // @ts-expect-error: a string where a number belongs
  void s.set('window.bounds.x', 'left');
  // @ts-expect-error: undefined is not JSON
  void s.set('counter', undefined);
  // @ts-expect-error: not a number
  void s.increment('window.title');
  // @ts-expect-error: not an array
  void s.push('counter', 1);
  // @ts-expect-error: a Todo's fields
  void s.push('todos', { text: 'x' });
  // @ts-expect-error: not an array index
  void s.set('todos.first.done', true);
  // @ts-expect-error: at() gives the path's type
  const title: number | undefined = s.at('window.title');
  void title;
}

// The page's API (leasehold/electron/renderer) takes the same paths. Never called.
export function refusedInThePage(api: LeaseholdRendererApi<AppState>): void {
  // @ts-expect-error: not a path of AppState
  void api.set('nope', 1);
  // @ts-expect-error: not a number
  void api.increment('todos');
  // @ts-expect-error: a watched value has its path's type
  api.watch('window.title', (v: number | undefined) => void v);
  api.watch('window.bounds.x', (v: number | undefined) => void v);
}

describe('typed paths (types only; the owner checks paths at run time)', () => {
  it('resolves the type at a path, and the paths to numbers and arrays', () => {
    assert.ok(same<ValueAt<AppState, 'window.bounds'>, { x: number; y: number }>(true));
    assert.ok(same<ValueAt<AppState, 'todos.3.done'>, boolean>(true));
    assert.ok(same<ValueAt<AppState, 'prefs.theme'>, string>(true));
    assert.ok(same<ValueAt<AppState, ''>, AppState>(true));
    assert.ok(same<PathTo<AppState, number>, 'counter' | 'window.bounds.x' | 'window.bounds.y'>(true));
    assert.ok(same<PathTo<AppState, readonly unknown[]>, 'todos'>(true));
    assert.ok(same<ElementAt<AppState, 'todos'>, Todo>(true));
    assert.ok(same<Path<Json>, string>(true), 'untyped: any string');
    assert.ok(same<ValueAt<Json, 'a.b'>, Json>(true));
  });

  it('a typed replica sends the mutations its typed calls describe', () => {
    const { state, sent } = recording<AppState>();
    void state.set('window.bounds', { x: 1, y: 2 });
    void state.increment('counter');
    void state.push('todos', { text: 'write', done: false });
    void state.set('todos.0.done', true);
    void state.set('prefs.theme', 'dark');
    void state.removeAt('todos', 0);
    void state.delete('prefs.theme');
    assert.deepEqual(sent, [
      { op: 'set', path: 'window.bounds', value: { x: 1, y: 2 } },
      { op: 'increment', path: 'counter', by: 1 },
      { op: 'push', path: 'todos', value: { text: 'write', done: false } },
      { op: 'set', path: 'todos.0.done', value: true },
      { op: 'set', path: 'prefs.theme', value: 'dark' },
      { op: 'remove-at', path: 'todos', index: 0 },
      { op: 'delete', path: 'prefs.theme' },
    ]);
  });

  it('an untyped replica takes any path and gives Json', () => {
    const { state, sent } = recording<Json>();
    void state.set('any.where', { x: [1] });
    const v: Json | undefined = state.at('any.where');
    assert.equal(v, undefined, 'nothing applied until the owner commits it');
    assert.deepEqual(sent, [{ op: 'set', path: 'any.where', value: { x: [1] } }]);
  });
});
