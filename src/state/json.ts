/**
 * The shared state's value types, with no runtime and no Node or DOM types, so that a renderer compiled
 * with only `lib: ["DOM"]` can use them (through `leasehold/electron/renderer`). What they mean and how
 * they are validated and applied is in document.ts.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type Mutation =
  | { op: 'set'; path: string; value: Json }
  | { op: 'delete'; path: string }
  | { op: 'increment'; path: string; by?: number }
  | { op: 'push'; path: string; value: Json }
  | { op: 'remove-at'; path: string; index: number }
  /** Several mutations applied atomically, in order (none nested): all or nothing. */
  | { op: 'batch'; ops: Mutation[] }
  /** An action for a reducer registered on the owner (`join({ reducers })`); the owner turns it into a batch. */
  | { op: 'dispatch'; type: string; payload?: Json };

/** An action for `dispatch()`: `type` names a reducer registered on the owner, `payload` is its argument. */
export type Action = { type: string; payload?: Json };

/**
 * What an app's own action union must be (`join<State, Actions>()`): each member a `type` and, if it takes
 * one, a `payload` that travels as JSON (checked when it is sent, not by this type).
 */
export type ActionLike = { type: string; payload?: unknown };

/** The payload type of the action of type `K` in `A` (undefined for one that takes none). */
export type PayloadOf<A extends ActionLike, K extends string> =
  Extract<A, { type: K }> extends infer X ? (X extends { payload: infer P } ? P : X extends { payload?: infer P } ? P | undefined : undefined) : never;
