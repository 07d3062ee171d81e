/**
 * The second launch: a process that finds an owner hands its launch (argv, cwd and an app-defined payload)
 * to the owner's launch handler and exits with the owner's answer, as Electron apps do with
 * `requestSingleInstanceLock` and `second-instance`, but with a reply (a status and a value), any length of
 * argv, and nothing outside the app's own data root. Built on requests (handlers.ts, requester.ts): the
 * same at-least-once delivery, so a launch forwarded to an owner that dies is answered by the next one.
 *
 * `forwardLaunch` decides by the role this instance reaches first: owner (nobody was running: this
 * process is the primary, nothing is forwarded) or follower (forwarded; the caller then closes and exits).
 * Not guaranteed: that two launches at the same moment with no owner elect the one the user expects (the
 * first to acquire owns; the other forwards to it).
 */
import type { Instance } from '../instance/instance.js';
import { LeaseholdError } from '../errors.js';
import type { Json } from '../state/json.js';
import type { RequestContext } from './handlers.js';
import type { RequestOptions } from './requester.js';

/** The request name launches travel under. */
export const LAUNCH_REQUEST = 'leasehold:launch';

export interface Launch {
  argv: string[];
  cwd: string;
  /** Whatever the app adds (a deep link it parsed, a file to open). */
  payload?: Json;
}

/** The owner's answer: the exit status of the forwarding process (0–255), and a value for it. */
export interface LaunchAnswer {
  status: number;
  value?: Json;
}

export type LaunchHandler = (launch: Launch, context: RequestContext) => LaunchAnswer | number | void | Promise<LaunchAnswer | number | void>;

/** Registers the app's answer to launches forwarded to it (on every instance; it runs on the owner). */
export function handleLaunches(instance: Pick<Instance<unknown>, 'handle'>, fn: LaunchHandler): () => void {
  return instance.handle(LAUNCH_REQUEST, async (payload, context) => {
    const launch = asLaunch(payload);
    const answer = await fn(launch, context);
    const { status, value } = typeof answer === 'number' ? { status: answer, value: undefined } : (answer ?? { status: 0 });
    const out: { status: number; value?: Json } = { status: exitStatus(status) };
    if (value !== undefined) out.value = value;
    return out as unknown as Json;
  });
}

/**
 * Waits until this instance owns or is connected to an owner. Owner: resolves `{forwarded: false}` (keep
 * running). Follower: sends `launch` to the owner's launch handler and resolves with its answer
 * (`forwarded: true`); rejects as `request()` does (ENOHANDLER when the owner registered no launch handler).
 */
export async function forwardLaunch(
  instance: Pick<Instance<unknown>, 'whenConnected' | 'role' | 'request' | 'on'>,
  launch: Launch,
  options: RequestOptions = {},
): Promise<{ forwarded: false } | ({ forwarded: true } & LaunchAnswer)> {
  await instance.whenConnected(options.signal ? { signal: options.signal } : {});
  if (instance.role === 'owner') return { forwarded: false };
  const body: { [k: string]: Json } = { argv: launch.argv, cwd: launch.cwd };
  if (launch.payload !== undefined) body.payload = launch.payload;
  // The owner failed before answering and this instance took over: it is the primary now (its launch is
  // not run by its own handler). Role changes are reported before its own requests go to its handlers.
  const tookOver = new AbortController();
  const off = instance.on('role-change', (e) => {
    if (e.role === 'owner') tookOver.abort();
  });
  const signal = options.signal ? AbortSignal.any([options.signal, tookOver.signal]) : tookOver.signal;
  let reply: { status?: unknown; value?: Json } | undefined;
  try {
    reply = (await instance.request(LAUNCH_REQUEST, body, { ...options, signal })) as typeof reply;
  } catch (err) {
    if (tookOver.signal.aborted && !options.signal?.aborted) return { forwarded: false };
    throw err;
  } finally {
    off();
  }
  return { forwarded: true, status: exitStatus(reply?.status), ...(reply?.value !== undefined ? { value: reply.value } : {}) };
}

function asLaunch(payload: Json | undefined): Launch {
  const p = payload as { argv?: unknown; cwd?: unknown; payload?: Json } | undefined;
  if (!p || !Array.isArray(p.argv) || !p.argv.every((a) => typeof a === 'string') || typeof p.cwd !== 'string')
    throw new LeaseholdError('EPROTOCOL', 'a launch is {argv: string[], cwd: string, payload?}');
  return { argv: p.argv as string[], cwd: p.cwd, ...(p.payload !== undefined ? { payload: p.payload } : {}) };
}

/** An exit status: an integer 0–255 (anything else: 1). */
function exitStatus(s: unknown): number {
  return Number.isInteger(s) && (s as number) >= 0 && (s as number) <= 255 ? (s as number) : 1;
}
