/**
 * The app's JSON Schema for its shared state, checked on the owner with ajv (an optional peer dependency,
 * loaded only when a schema is given): the state a mutation would produce is validated before it is
 * applied, journaled or acknowledged; a failing one is refused with ESCHEMA naming the path and the rule.
 *
 * Guarantees: a committed state always satisfies the schema, as of every mutation this owner applied (a
 * state recovered from disk is not re-checked: a changed schema is for migrations to bring it along).
 * Not guaranteed: cheapness. Every mutation validates the whole state, O(state) (ajv compiles the schema
 * to code once); for a large state prefer checks in reducers.
 */
import { createRequire } from 'node:module';
import { LeaseholdError } from '../errors.js';
import type { Json } from './json.js';

/** Checks a whole state; throws ESCHEMA for one that fails. */
export type StateCheck = (state: Json) => void;

interface AjvError {
  instancePath: string;
  message?: string;
}
interface AjvValidate {
  (data: unknown): boolean;
  errors?: AjvError[] | null;
}
interface Ajv {
  compile(schema: object): AjvValidate;
}

let AjvClass: (new (options: object) => Ajv) | undefined;

/** ajv's constructor; EINVALIDCONFIG when it is not installed. */
function loadAjv(): new (options: object) => Ajv {
  if (AjvClass) return AjvClass;
  try {
    const mod = createRequire(import.meta.url)('ajv') as { default?: unknown };
    AjvClass = (mod.default ?? mod) as new (options: object) => Ajv;
    return AjvClass;
  } catch (cause) {
    throw new LeaseholdError('EINVALIDCONFIG', 'schema needs the ajv package: npm install ajv', { field: 'schema', cause });
  }
}

/** Compiles `schema` once (EINVALIDCONFIG naming `schema` when ajv refuses it). */
export function compileSchema(schema: object): StateCheck {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
    throw new LeaseholdError('EINVALIDCONFIG', 'schema must be a JSON Schema object', { field: 'schema' });
  const Ajv = loadAjv();
  let validate: AjvValidate;
  try {
    // allErrors off: the first failure is enough to refuse, and cheaper to find.
    validate = new Ajv({ allErrors: false, strict: false }).compile(schema);
  } catch (cause) {
    throw new LeaseholdError('EINVALIDCONFIG', `schema is not a valid JSON Schema: ${(cause as Error)?.message}`, {
      field: 'schema',
      cause,
    });
  }
  return (state) => {
    if (validate(state)) return;
    const e = validate.errors?.[0];
    // JSON Pointer (/todos/0/done) to leasehold's dotted path (todos.0.done).
    const path = (e?.instancePath ?? '')
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .join('.');
    throw new LeaseholdError('ESCHEMA', `the state would fail the schema at "${path}": ${e?.message ?? 'invalid'}`, { field: path });
  };
}
