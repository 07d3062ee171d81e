/** The example app's reducers (run on the owner only; every instance registers the same ones). */
import type { Reducers } from '../src/index.js';
import type { AppAction, AppState } from './state.js';

// Typed by AppAction, but what arrives is whatever a process sent: each reducer checks its payload.
export const reducers: Reducers<AppState, AppAction> = {
  'todo/add': (state, payload) => {
    const text = typeof payload === 'string' ? payload.trim().slice(0, 500) : '';
    if (!text) throw new Error('a todo needs some text');
    return { ...state, todos: [...(state.todos ?? []), { text, done: false }] };
  },
  'todo/toggle': (state, payload) => {
    const i = typeof payload === 'number' ? payload : -1;
    const todos = state.todos ?? [];
    if (!todos[i]) throw new Error(`no todo at ${i}`);
    return { ...state, todos: todos.map((t, j) => (j === i ? { ...t, done: !t.done } : t)) };
  },
  'todo/clear-done': (state) => ({ ...state, todos: (state.todos ?? []).filter((t) => !t.done) }),
};
