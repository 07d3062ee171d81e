/**
 * `leasehold instance`: joins and stays. One JSON object per line on stdout for every event; one JSON
 * command per line on stdin. SIGINT or SIGTERM → graceful handover, exit 0. stdin closed → every command
 * read so far is answered first (a piped `set` gets its ack, a piped `get` its state), then the same.
 *
 * Commands run as they arrive (mutations are pipelined), except that a `get` answers only once every
 * command before it has been answered and the replica has synced with an owner: it sees what was sent
 * before it, and never the empty replica of an instance that has not synced yet.
 */
import { createInterface } from 'node:readline';
import { nextTurn, systemClock } from '../clock.js';
import { join, type Instance } from '../instance/instance.js';
import type { TransportKind } from '../transport/endpoint.js';
import { intOption, requireDataRoot, type CliValues } from './main.js';
import { asLeaseholdError, LeaseholdError } from '../errors.js';
import type { Json, Mutation } from '../state/document.js';
import { syncedOrFailed } from './synced.js';
import { createFaultKit, faultsEnabled, type FaultKit } from './faults.js';

/**
 * Prints one event line, stamped with the monotonic time of the event. Lines of one event-loop turn leave
 * in one write after it (a handover makes four at once: one syscall and one wake-up of the reader instead
 * of four), and whatever is pending is written before the process exits.
 */
export function out(line: Record<string, unknown>): void {
  pending += JSON.stringify({ ...line, t: Number(systemClock.now().toFixed(3)) }) + '\n';
  if (!flushing) {
    flushing = true;
    void nextTurn().then(flushOut);
  }
}

/** Prints one event line and everything pending before it, now (the process is about to stop). */
function outNow(line: Record<string, unknown>): void {
  out(line);
  flushOut();
}

let pending = '';
let flushing = false;
function flushOut(): void {
  flushing = false;
  if (pending === '') return;
  const text = pending;
  pending = '';
  process.stdout.write(text);
}
process.on('exit', flushOut);

export async function runInstance(values: CliValues): Promise<void> {
  const dataRoot = requireDataRoot(values);
  const ttlMs = intOption(values, 'ttl');
  const snapshotEvery = intOption(values, 'snapshot-every');
  const stateVersion = intOption(values, 'state-version');
  const faults = faultsEnabled() ? createFaultKit(systemClock, { announce: outNow }) : undefined;
  const instance = join({
    ...(faults ? { clock: faults.clock, journalFs: faults.journalFs } : {}),
    dataRoot,
    ...(values.key ? { key: values.key } : {}),
    ...(values.app ? { app: values.app } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(values['app-version'] ? { appVersion: values['app-version'] } : {}),
    ...(values.transport ? { transport: values.transport as TransportKind } : {}),
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
    ...(stateVersion !== undefined ? { stateVersion } : {}),
  });
  attachOutput(instance);
  let exiting = false;
  const shutdown = async () => {
    if (exiting) return;
    exiting = true;
    await instance.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  const rl = createInterface({ input: process.stdin });
  const inFlight = new Set<Promise<void>>();
  rl.on('line', (line) => {
    const earlier = [...inFlight];
    const p = handleCommand(instance, line, faults, earlier).finally(() => inFlight.delete(p));
    inFlight.add(p);
  });
  rl.on('close', () => void Promise.allSettled([...inFlight]).then(shutdown));
}

function roleLine(instance: Instance): Record<string, unknown> {
  const failure = instance.failure;
  return {
    event: 'role',
    role: instance.role,
    epoch: instance.epoch,
    instanceId: instance.instanceId,
    endpoint: instance.endpoint ?? null,
    ownerId: instance.holder?.instanceId ?? null,
    name: instance.name,
    pid: process.pid,
    // Role `failed`: the damaged file and where, and the message with the way out.
    ...(failure ? errorFields(failure) : {}),
  };
}

/** An error's code and message, and the file and offset it names. */
function errorFields(e: LeaseholdError): Record<string, unknown> {
  return {
    code: e.code,
    message: e.message,
    ...(e.path !== undefined ? { path: e.path } : {}),
    ...(e.offset !== undefined ? { offset: e.offset } : {}),
    ...(e.field !== undefined ? { field: e.field } : {}),
  };
}

export function attachOutput(instance: Instance): void {
  instance.state.subscribe((change) =>
    // No mutation: the replica was replaced by the owner's state (joining, a new owner, a resync).
    change.mutation === null
      ? out({ event: 'snapshot', version: change.version })
      : out({ event: 'change', version: change.version, mutation: change.mutation, by: change.id }),
  );
  // The same list arrives twice when a follower connects (in the welcome, then in the owner's broadcast).
  let lastPresence = '';
  instance.subscribe((e) => {
    switch (e.type) {
      case 'role-change':
        return out(roleLine(instance));
      case 'owner-change':
        // A follower whose owner changed has a new epoch and endpoint: the same line, again.
        // (Not for this instance itself, which learns that it holds the lease just before it owns.)
        if (instance.role === 'follower' && e.holder.instanceId !== instance.instanceId) out(roleLine(instance));
        return;
      case 'connected':
        return out({ event: 'connected', epoch: e.epoch, ownerId: e.ownerId, instanceId: instance.instanceId, via: e.via });
      case 'disconnected':
        return out({ event: 'disconnected', epoch: e.epoch, why: e.why });
      case 'presence': {
        const line = { event: 'presence', epoch: instance.epoch, instances: e.instances };
        const key = JSON.stringify(line);
        if (key === lastPresence) return;
        lastPresence = key;
        return out(line);
      }
      case 'lost':
        return out({ event: 'lost', epoch: e.epoch, reason: e.reason, message: e.error.message });
      case 'other-host':
        return out({ event: 'other-host', epoch: e.epoch, host: e.holder.host, ownerId: e.holder.instanceId, name: e.holder.name });
      case 'error':
        return out({ event: 'error', ...errorFields(e.error) });
      case 'closed':
        return out({ event: 'closed' });
    }
  });
}

async function handleCommand(instance: Instance, line: string, faults: FaultKit | undefined, earlier: Promise<void>[]): Promise<void> {
  if (line.trim() === '') return;
  let cmd: { op?: unknown; id?: unknown };
  try {
    cmd = JSON.parse(line);
    if (typeof cmd !== 'object' || cmd === null) throw new Error('not an object');
  } catch {
    return out({ event: 'error', id: null, code: 'EPROTOCOL', message: 'a command is one JSON object per line' });
  }
  const id = typeof cmd.id === 'string' || typeof cmd.id === 'number' ? cmd.id : null;
  const c = cmd as Record<string, unknown>;
  switch (cmd.op) {
    case 'get':
      await Promise.allSettled(earlier);
      try {
        await syncedOrFailed(instance);
      } catch (err) {
        const e = asLeaseholdError(err);
        return out({ event: 'error', id, code: e.code, message: e.message });
      }
      return out({ event: 'state', id, version: instance.state.version, state: instance.state.get() });
    case 'set':
    case 'delete':
    case 'increment':
    case 'push':
    case 'remove-at':
    case 'batch':
    case 'dispatch': {
      const { id: _id, durable, ...mutation } = c;
      void _id;
      try {
        const version = await instance.state.mutate(mutation as unknown as Mutation, durable === false ? { durable: false } : {});
        return out({ event: 'ack', id, version });
      } catch (err) {
        const e = asLeaseholdError(err);
        return out({ event: 'error', id, code: e.code, message: e.message });
      }
    }
    case 'handle': {
      // A test handler: after `delayMs`, replies with who ran it and what it got, or fails with `fail`.
      const name = String(c.name);
      const delayMs = typeof c.delayMs === 'number' && c.delayMs > 0 ? c.delayMs : 0;
      const failWith = typeof c.fail === 'string' ? c.fail : undefined;
      instance.handle(name, async (payload, context) => {
        out({ event: 'handling', name, requestId: context.id, from: context.from });
        if (delayMs > 0) await new Promise<void>((r) => systemClock.setTimeout(() => r(), delayMs));
        if (failWith) throw Object.assign(new Error(`${name} failed as told`), { code: failWith });
        return { by: instance.name, pid: process.pid, payload: payload ?? null, requestId: context.id };
      });
      return out({ event: 'handler', id, name });
    }
    case 'request':
      try {
        const value = await instance.request(String(c.name), c.payload as Json | undefined, {
          ...(typeof c.timeoutMs === 'number' ? { timeoutMs: c.timeoutMs } : {}),
        });
        return out({ event: 'reply', id, value: value ?? null });
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown };
        return out({ event: 'error', id, code: String(e.code ?? 'EHANDLER'), message: String(e.message ?? err) });
      }
    case 'status':
      return out({ ...roleLine(instance), event: 'status', id, instances: instance.instances });
    case 'close':
      await instance.close();
      return process.exit(0);
    case 'fault':
      if (!faults) break; // only with LEASEHOLD_FAULTS=1 (chaos tests)
      return out({
        event: 'fault',
        id,
        kind: c.kind,
        role: instance.role,
        applied: faults.apply(instance, c.kind, typeof c.ms === 'number' && Number.isFinite(c.ms) ? c.ms : 0, c.point),
      });
  }
  return out({ event: 'error', id, code: 'EPROTOCOL', message: `unknown op ${JSON.stringify(cmd.op)}` });
}
