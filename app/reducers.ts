/** The example app's reducers (run on the owner only; every instance registers the same ones). */
import type { Json, Reducers } from '../src/index.js';

interface Todo {
  text: string;
  done: boolean;
}
const todosOf = (s: Json) => ((s as { todos?: Todo[] }).todos ?? []) as Todo[];

export const reducers: Reducers = {
  'todo/add': (state, payload) => {
    const text = typeof payload === 'string' ? payload.trim().slice(0, 500) : '';
    if (!text) throw new Error('a todo needs some text');
    return { ...(state as object), todos: [...todosOf(state), { text, done: false }] } as unknown as Json;
  },
  'todo/toggle': (state, payload) => {
    const i = typeof payload === 'number' ? payload : -1;
    const todos = todosOf(state);
    if (!todos[i]) throw new Error(`no todo at ${i}`);
    return { ...(state as object), todos: todos.map((t, j) => (j === i ? { ...t, done: !t.done } : t)) } as unknown as Json;
  },
  'todo/clear-done': (state) => ({ ...(state as object), todos: todosOf(state).filter((t) => !t.done) }) as unknown as Json,
};
