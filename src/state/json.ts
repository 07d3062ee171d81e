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
