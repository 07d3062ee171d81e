/** The example app's shared state, as its reducers and its windows see it (types only: DOM-safe). */
export interface Todo {
  text: string;
  done: boolean;
}

export interface AppState {
  todos?: Todo[];
  counter?: number;
}
