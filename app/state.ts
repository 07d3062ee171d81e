/** The example app's shared state, as its reducers and its windows see it (types only: DOM-safe). */
export interface Todo {
  text: string;
  done: boolean;
}

export interface AppState {
  todos?: Todo[];
  counter?: number;
}

/** The actions its reducers handle (app/reducers.ts): `dispatch()` accepts only these. */
export type AppAction = { type: 'todo/add'; payload: string } | { type: 'todo/toggle'; payload: number } | { type: 'todo/clear-done' };
