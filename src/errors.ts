/**
 * One error family with stable codes. Match on `err.code`, never on the message.
 *
 * | code            | what happened                                                     | what to do                                      |
 * |-----------------|-------------------------------------------------------------------|-------------------------------------------------|
 * | ECONFLICT       | another instance holds the lease (`err.holder` has its record)    | follow it, or `waitUntilReleased()` and retry   |
 * | ENOTHELD        | a guarded action was attempted without holding the lease          | stop acting as owner                            |
 * | ELOST           | the lease was lost (`err.reason`: expired, superseded, clock-jump, io, compromised, released) | stop acting as owner; rejoin |
 * | EINVALIDKEY     | a lease key is malformed (`err.key`)                              | fix the key                                     |
 * | EINVALIDCONFIG  | an option is missing or inconsistent (`err.field`)                | fix the option                                  |
 * | EIO             | the data root could not be read or written (`err.path`, `cause`)  | check the path, its permissions and free space  |
 * | EFORMAT         | a file was written by a newer leasehold (`err.path`)              | upgrade this instance                           |
 * | ECORRUPT        | a file on disk is damaged (`err.path`, `err.offset`); a damaged journal puts every instance in role `failed` | `leasehold repair` (no owner running), or move the file aside |
 * | ECLOSED         | the store, lease or instance was closed                           | create a new one                                |
 * | EABORTED        | the caller's AbortSignal fired                                     | nothing: this is the answer to your abort       |
 * | EPROTOCOL       | a peer sent something this protocol does not allow                | see the message; the connection was refused     |
 * | ETIMEOUT        | an operation did not finish in time                               | retry                                           |
 * | EFULL           | too many mutations are waiting for an owner (`maxPendingMutations`) | wait for `whenConnected()`, or raise the limit  |
 * | EREDUCER        | a dispatched action's reducer is missing, threw, or returned a non-object | fix the reducer; the state is unchanged |
 * | ESCHEMA         | the state a mutation would produce fails the app's `schema` (`err.field`: the path) | fix the mutation; the state is unchanged |
 * | ENOHANDLER      | a request named no handler registered on the owner                | register it with `handle()` on every instance   |
 * | EHANDLER        | a request's handler threw without a code of its own, or replied with something that is not JSON within the limit | fix the handler |
 * | EOUTDATED       | this instance's code is older than the shared state (`err.field`: 'stateVersion') or than the owner's protocol ('protocol'); the instance stops (role `failed`) | restart the app to update it |
 * | EMIGRATION      | a migration threw or returned something that is not JSON (`err.field`: the version it migrates to); the stored state is unchanged and this instance stops | fix the migration |
 *
 * Over the wire only `{code, message}` travels; causes and paths stay in the process.
 */

export const ErrorCodes = [
  'ECONFLICT',
  'ENOTHELD',
  'ELOST',
  'EINVALIDKEY',
  'EINVALIDCONFIG',
  'EIO',
  'EFORMAT',
  'ECORRUPT',
  'ECLOSED',
  'EABORTED',
  'EPROTOCOL',
  'ETIMEOUT',
  'EFULL',
  'EREDUCER',
  'ESCHEMA',
  'ENOHANDLER',
  'EHANDLER',
  'EOUTDATED',
  'EMIGRATION',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

/** Why a lease ended. */
export type LostReason =
  | 'released' // the holder called release()
  | 'expired' // the holder could not renew before the lease could have expired (stall, I/O, sleep)
  | 'superseded' // another instance holds a newer epoch
  | 'clock-jump' // the wall clock jumped: sleep/resume or a time change; the lease is treated as possibly lost
  | 'compromised' // the store's lock was taken from under us (proper-lockfile ECOMPROMISED)
  | 'io' // renewals failed with I/O errors until the deadline
  | 'closed'; // the store was closed

export interface ErrorDetails {
  cause?: unknown;
  path?: string;
  key?: string;
  field?: string;
  offset?: number;
  holder?: unknown;
  reason?: LostReason;
}

export class LeaseholdError extends Error {
  override readonly name = 'LeaseholdError';
  readonly code: ErrorCode;
  readonly path?: string;
  readonly key?: string;
  readonly field?: string;
  readonly offset?: number;
  /** For ECONFLICT: the current holder's record. */
  readonly holder?: unknown;
  /** For ELOST: why the lease ended. */
  readonly reason?: LostReason;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.path !== undefined) this.path = details.path;
    if (details.key !== undefined) this.key = details.key;
    if (details.field !== undefined) this.field = details.field;
    if (details.offset !== undefined) this.offset = details.offset;
    if (details.holder !== undefined) this.holder = details.holder;
    if (details.reason !== undefined) this.reason = details.reason;
  }

  /** The only part of an error that crosses a process boundary. */
  toWire(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isLeaseholdError(err: unknown, code?: ErrorCode): err is LeaseholdError {
  return err instanceof LeaseholdError && (code === undefined || err.code === code);
}

/**
 * Wraps a Node fs error as EIO naming the path, keeping the original as `cause`. A LeaseholdError (a
 * refusal that already names its path and reason) is returned as it is.
 */
export function ioError(action: string, path: string, cause: unknown): LeaseholdError {
  if (cause instanceof LeaseholdError) return cause;
  const sys = cause as NodeJS.ErrnoException;
  const hint =
    sys?.code === 'EACCES' || sys?.code === 'EPERM' || sys?.code === 'EROFS'
      ? 'check that this user may write there'
      : sys?.code === 'ENOSPC'
        ? 'free some disk space'
        : sys?.code === 'ENOENT'
          ? 'check that the directory exists'
          : 'check the path and the disk';
  return new LeaseholdError('EIO', `cannot ${action} ${path}: ${sys?.code ?? String(cause)}; ${hint}`, {
    path,
    cause,
  });
}

/** `err` as a LeaseholdError: itself, or EIO with its message (and it as the cause) for anything else. */
export function asLeaseholdError(err: unknown): LeaseholdError {
  return err instanceof LeaseholdError ? err : new LeaseholdError('EIO', String((err as Error)?.message ?? err), { cause: err });
}

export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new LeaseholdError('EABORTED', 'the operation was aborted');
}
