/**
 * Paths into a typed state, checked by TypeScript (no runtime: types only, DOM-safe).
 *
 * `join<State>()` types the shared state: `Path<State>` is every dotted path into it (`'todos'`,
 * `'todos.0.done'`, `''` for the root), `ValueAt<State, P>` the type found there, and `PathTo<State, V>`
 * the paths whose value is a `V` (what `increment` and `push` accept). Keys of a record type
 * (`Record<string, T>`) and array indices are any string / `${number}` segment.
 *
 * Limits (why they exist): paths are spelled out to a depth of 8 segments, deeper ones are plain
 * `string` (the compiler's cost grows with every level); a key that contains a dot cannot be typed (it
 * is not a valid path segment at run time either). Untyped instances (`State` = `Json`, the default,
 * or `any`/`unknown`) accept any string and give `Json`, as before. The owner still validates every path
 * at run time: types are a convenience for the caller, not a check of what other instances send.
 */
import type { Json } from './json.js';

/** Levels still allowed below this one. */
type Next = [never, 0, 1, 2, 3, 4, 5, 6, 7];
type Untyped<T> = Json extends T ? true : unknown extends T ? true : false;

type SubPaths<T, D extends number> = [D] extends [never]
  ? string
  : T extends readonly (infer E)[]
    ? `${number}` | `${number}.${SubPaths<E, Next[D]>}`
    : T extends object
      ? { [K in keyof T & string]: K | `${K}.${SubPaths<T[K], Next[D]>}` }[keyof T & string]
      : never;

/** Every dotted path into `T`, the root (`''`) included; `string` when `T` is untyped. */
export type Path<T> = Untyped<T> extends true ? string : '' | SubPaths<T, 8>;

type Child<T, K extends string> = T extends readonly (infer E)[]
  ? K extends `${number}`
    ? E
    : never
  : T extends object
    ? K extends keyof T
      ? T[K]
      : string extends keyof T
        ? T[string & keyof T]
        : never
    : never;

type Walk<T, P extends string> = P extends `${infer H}.${infer R}` ? Walk<Child<T, H>, R> : Child<T, P>;

/** The type at path `P` of `T`; `Json` when `T` is untyped or `P` is not a literal. */
export type ValueAt<T, P extends string> = Untyped<T> extends true ? Json : string extends P ? Json : P extends '' ? T : Walk<T, P>;

/** What `set` may write at `P`: its type, without the `undefined` of an optional property. */
export type SetValue<T, P extends string> = Exclude<ValueAt<T, P>, undefined>;

/**
 * The paths of `T` whose value is a `V` (`number` for increment, an array for push and removeAt); an
 * optional property counts (increment starts an absent number at 0, push an absent array empty).
 */
export type PathTo<T, V> = Untyped<T> extends true ? string : { [P in Path<T>]: SetValue<T, P> extends V ? P : never }[Path<T>];

/** The type of the elements of the array at `P`. */
export type ElementAt<T, P extends string> = SetValue<T, P> extends readonly (infer E)[] ? E : Json;
