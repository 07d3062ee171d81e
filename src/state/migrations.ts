/**
 * The shared state's version and the app's migrations (`join({ stateVersion, migrations })`).
 *
 * The state on disk records the version of the code that last shaped it (the journal's snapshot header
 * and the entry that changed it: journal/layout.ts). A new owner compares it with its own `stateVersion`:
 *  - equal: nothing to do;
 *  - older, on a data root with no state yet (nothing was ever written): the state is born at this
 *    version, and no migration runs (electron-store runs them on first setup: an old bug there);
 *  - older, with state: the migrations above the stored version run in order on a copy of the state, the
 *    result is checked as JSON and then against the schema (migrate first, validate after), and the owner
 *    journals it as one durable entry (the new root and the new version) before it serves anyone. Each
 *    pending migration therefore runs once per takeover until that entry is durable, and never after it:
 *    a crash before it leaves the old state and version on disk for the next owner to migrate again;
 *  - newer: this code does not know that shape. The state is not touched (no write at all), and the
 *    instance stops with EOUTDATED (role `failed`): restart it with the newer app. A follower stops the same
 *    way when the owner's welcome names a newer state version.
 *
 * A migration is `(state) => nextState`: it gets a private, mutable deep copy of the state, and may change
 * it in place and return nothing, or return the next state. One that throws, or returns something that is
 * not JSON, is EMIGRATION: nothing is written, and this instance stops (any instance with the same code
 * would fail the same way; a fixed build takes over when it joins).
 *
 * Not guaranteed: cheapness for a big state: the migrated root travels as one journal entry, and
 * followers resynchronize from a snapshot after it.
 */
import { LeaseholdError } from '../errors.js';
import { checkJson, type Json } from './document.js';

/** A migration to one version: a mutable copy of the state at the version before → the state at this one. */
export type Migration = (state: any) => unknown;

/** Migrations by the version each one produces (positive integers). */
export type Migrations = Readonly<Record<number, Migration>>;

/**
 * The versions checked: `stateVersion` and the migrations sorted by the version they produce. Without a
 * `stateVersion` (an app that does not version its state, or a generic tool such as the CLI), any stored
 * version is followed and served as it is: nothing is migrated, recorded or refused.
 */
export interface StateVersioning {
  stateVersion: number | undefined;
  migrations: ReadonlyArray<readonly [number, Migration]>;
}

/**
 * Checks `join()`'s two options. `stateVersion` defaults to the highest migration's version (none without
 * migrations); every migration's version must be a positive integer no higher than it.
 */
export function resolveVersioning(stateVersion: unknown, migrations: unknown): StateVersioning {
  if (migrations !== undefined && (typeof migrations !== 'object' || migrations === null || Array.isArray(migrations)))
    throw new LeaseholdError('EINVALIDCONFIG', 'migrations maps state versions (positive integers) to functions', { field: 'migrations' });
  const list: [number, Migration][] = [];
  for (const [k, fn] of Object.entries((migrations ?? {}) as Record<string, unknown>)) {
    const v = Number(k);
    if (!/^[1-9]\d*$/.test(k) || !Number.isSafeInteger(v))
      throw new LeaseholdError('EINVALIDCONFIG', `migrations: "${k}" is not a state version (a positive integer)`, { field: 'migrations' });
    if (typeof fn !== 'function')
      throw new LeaseholdError('EINVALIDCONFIG', `migrations: the migration to ${k} is not a function`, { field: 'migrations' });
    list.push([v, fn as Migration]);
  }
  list.sort((a, b) => a[0] - b[0]);
  const version = stateVersion ?? list.at(-1)?.[0];
  if (version === undefined) return { stateVersion: undefined, migrations: [] };
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0)
    throw new LeaseholdError('EINVALIDCONFIG', 'stateVersion is a non-negative integer', { field: 'stateVersion' });
  const above = list.find(([v]) => v > version);
  if (above)
    throw new LeaseholdError('EINVALIDCONFIG', `migrations: ${above[0]} is above stateVersion ${version}`, { field: 'migrations' });
  return { stateVersion: version, migrations: list };
}

/** Whether code of `own` version may not serve or follow a state of version `stored`. */
export function isOutdated(stored: number, own: number | undefined): boolean {
  return own !== undefined && stored > own;
}

/** EOUTDATED for a state (on disk, or the owner's) of version `stored`, newer than this code's `own`. */
export function outdatedState(stored: number, own: number, where: string): LeaseholdError {
  return new LeaseholdError(
    'EOUTDATED',
    `${where} is at state version ${stored}, newer than this app's ${own}: restart the app to update it (the state is left as it is)`,
    { field: 'stateVersion' },
  );
}

/**
 * Runs the migrations above `from` (up to the code's version) on a deep copy of `state`; the state to
 * journal. Throws EMIGRATION naming the version whose migration failed.
 */
export function runMigrations(state: Json, from: number, versioning: StateVersioning): Json {
  let s: unknown = structuredClone(state);
  for (const [v, fn] of versioning.migrations) {
    if (v <= from) continue;
    let next: unknown;
    try {
      next = fn(s);
    } catch (cause) {
      throw new LeaseholdError('EMIGRATION', `the migration to state version ${v} threw: ${(cause as Error)?.message ?? String(cause)}`, {
        field: String(v),
        cause,
      });
    }
    if (next !== undefined) s = next;
    try {
      checkJson(s, '(root)', Infinity);
    } catch (cause) {
      throw new LeaseholdError('EMIGRATION', `the migration to state version ${v} left a state that is not JSON: ${(cause as Error).message}`, {
        field: String(v),
        cause,
      });
    }
  }
  return s as Json;
}
