/**
 * One-shot commands, like etcdctl's: `leasehold get [PATH]`, `leasehold set PATH JSON`,
 * `leasehold call NAME [JSON]`, `leasehold ps`.
 *
 * Each joins the data root as an instance of its own (named `leasehold <command>`), does its one thing and
 * leaves with a graceful close, so it works whether or not an owner runs at that moment: with none, the
 * command's own instance recovers the state from the journal, serves it for the moment it needs, and hands
 * the journal back on close (the next instance to start takes over as usual).
 *
 * Guarantees: `get` prints the state as committed by the owner it synced with (never a replica that has not
 * synced yet); `set` exits 0 only once its mutation is committed (applied and flushed by the owner);
 * `call` prints the reply of the owner's handler (with no owner running, this command's own instance owns
 * and has no handler: ENOHANDLER);
 * `ps` lists the instances the owner knows, this command's own instance left out.
 * Not guaranteed: that the answer is still true when printed (others keep writing).
 *
 * Exit status: 0 done; 1 an error (its code and message on stderr: ETIMEOUT when no owner answered within
 * `--timeout`, ECORRUPT with a damaged journal, the owner's refusal of a mutation); 2 wrong arguments;
 * 3 `get PATH` found nothing at PATH.
 */
import { systemClock } from '../clock.js';
import { join, type Instance } from '../instance/instance.js';
import { LeaseholdError } from '../errors.js';
import { getAt, parsePath, type Json } from '../state/document.js';
import type { TransportKind } from '../transport/endpoint.js';
import { syncedOrFailed } from './synced.js';
import { fail, intOption, requireDataRoot, type CliValues } from './main.js';

/** How long a one-shot waits for an owner's answer (`--timeout MS`). @default 10000 */
export const DEFAULT_ONESHOT_TIMEOUT_MS = 10_000;

/** Joins, waits until the replica is synced with an owner, runs `work`, and always leaves. */
async function withInstance<T>(
  values: CliValues,
  command: string,
  work: (instance: Instance, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const dataRoot = requireDataRoot(values);
  const timeoutMs = intOption(values, 'timeout') ?? DEFAULT_ONESHOT_TIMEOUT_MS;
  const ttlMs = intOption(values, 'ttl');
  const instance = join({
    dataRoot,
    ...(values.key ? { key: values.key } : {}),
    ...(values.app ? { app: values.app } : {}),
    ...(values.transport ? { transport: values.transport as TransportKind } : {}),
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    name: values.name ?? `leasehold ${command}`,
  });
  const deadline = new AbortController();
  const timer = systemClock.setTimeout(
    () => deadline.abort(new LeaseholdError('ETIMEOUT', `no owner answered within ${timeoutMs} ms (--timeout)`)),
    timeoutMs,
  );
  try {
    // A damaged journal: no owner will ever serve, so say why now instead of at the deadline.
    await syncedOrFailed(instance, deadline.signal);
    return await work(instance, deadline.signal);
  } finally {
    timer.cancel();
    await instance.close();
  }
}

/** Rejects with the signal's reason once it fires (a mutation itself cannot be cancelled once sent). */
function orDeadline<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseJsonArg(text: string | undefined, what: string): Json {
  if (text === undefined) fail(`${what} is required`);
  try {
    return JSON.parse(text) as Json;
  } catch {
    return fail(`${what} must be JSON (a string is quoted: '"text"'), got ${text.slice(0, 80)}`);
  }
}

function checkPath(path: string): void {
  try {
    parsePath(path);
  } catch (err) {
    fail((err as Error).message);
  }
}

/** `leasehold call NAME [JSON]`: the reply of the owner's handler NAME, as JSON (`null` for none). */
export async function runCall(values: CliValues, args: string[]): Promise<void> {
  if (args.length < 1 || args.length > 2) fail('call takes NAME and at most one JSON payload');
  const [name, text] = args as [string, string | undefined];
  const payload = text === undefined ? undefined : parseJsonArg(text, 'the payload');
  const value = await withInstance(values, 'call', (instance, signal) => instance.request(name, payload, { signal }));
  process.stdout.write(JSON.stringify(values.json ? { name, value: value ?? null } : (value ?? null)) + '\n');
}

/** `leasehold get [PATH]`: the value at PATH (the whole state without one) as JSON. */
export async function runGet(values: CliValues, args: string[]): Promise<void> {
  const path = args[0] ?? '';
  if (args.length > 1) fail('get takes at most one PATH');
  checkPath(path);
  const found = await withInstance(values, 'get', async (instance) => ({
    version: instance.state.version,
    value: path === '' ? (instance.state.get() as Json) : getAt(instance.state.get() as Json, path),
  }));
  if (found.value === undefined) {
    if (values.json) process.stdout.write(JSON.stringify({ path, version: found.version, found: false }) + '\n');
    process.exitCode = 3;
    return;
  }
  process.stdout.write(
    (values.json ? JSON.stringify({ path, version: found.version, found: true, value: found.value }) : JSON.stringify(found.value)) + '\n',
  );
}

/** `leasehold set PATH JSON`: commits one `set`; prints the version it was committed at. */
export async function runSet(values: CliValues, args: string[]): Promise<void> {
  if (args.length !== 2) fail('set takes PATH and a JSON value');
  const [path, text] = args as [string, string];
  checkPath(path);
  const value = parseJsonArg(text, 'the value');
  const version = await withInstance(values, 'set', (instance, signal) => orDeadline(instance.state.set(path, value), signal));
  process.stdout.write((values.json ? JSON.stringify({ path, version }) : String(version)) + '\n');
}

/** `leasehold ps`: every instance the owner knows (name, pid, role, app version, since), this command's own left out. */
export async function runPs(values: CliValues, args: string[]): Promise<void> {
  if (args.length > 0) fail('ps takes no arguments');
  const rows = await withInstance(values, 'ps', async (instance) => {
    // A follower learns the list in its welcome; an owner that has just taken over knows the followers
    // that reconnected so far, which is who is there.
    return instance.instances.filter((i) => i.instanceId !== instance.instanceId);
  });
  if (values.json) {
    for (const r of rows) process.stdout.write(JSON.stringify({ ...r, since: new Date(r.since).toISOString() }) + '\n');
    return;
  }
  const table = [
    ['ROLE', 'PID', 'VERSION', 'SINCE', 'INSTANCE', 'NAME'],
    ...rows.map((r) => [r.role, String(r.pid), r.appVersion || '-', new Date(r.since).toISOString(), r.instanceId, r.name]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table)
    process.stdout.write(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ') + '\n');
}
