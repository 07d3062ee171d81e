/** `leasehold watch`: prints every ownership change as it happens, until interrupted. */
import { FileLeaseStore } from '../lease/file-store.js';
import { observe, type Observation } from '../lease/observe.js';
import { toHolder } from '../instance/instance.js';
import { requireDataRoot, type CliValues } from './main.js';
import { keyOf } from './status.js';
import { keepProcessAlive, systemClock } from '../clock.js';

/**
 * How often the key is read besides its change notifications: an expiry (a crashed holder) changes
 * nothing on disk, so only a read notices it. @default 25 ms
 */
export const WATCH_POLL_MS = 25;

/** What a line is printed for: a holder (instance and epoch), or the reason the key is free. */
function fingerprint(seen: Observation): string | undefined {
  if (seen.state === 'unreadable') return undefined; // being rewritten: read again
  if (seen.state === 'held') return `held ${seen.record.instanceId} ${seen.record.epoch}`;
  return seen.state === 'free' ? 'free' : `unknown ${seen.reason}`;
}

export async function runWatch(values: CliValues): Promise<void> {
  const store = new FileLeaseStore({ dataRoot: requireDataRoot(values) });
  const key = keyOf(values);
  let last = '';
  const stop = new AbortController();
  process.on('SIGINT', () => stop.abort());
  process.on('SIGTERM', () => stop.abort());
  // The clock's timers are unref'd (a library must not keep a process alive); this command must.
  const release = keepProcessAlive();
  while (!stop.signal.aborted) {
    let state: Observation;
    try {
      state = await observe(store, key, (seen) => (fingerprint(seen) !== undefined && fingerprint(seen) !== last ? seen : undefined), {
        clock: systemClock,
        pollIntervalMs: WATCH_POLL_MS,
        signal: stop.signal,
      });
    } catch {
      break; // interrupted
    }
    last = fingerprint(state)!;
    const h = state.state === 'held' ? toHolder(state.record) : undefined;
    const line = h
      ? { event: 'owner', epoch: h.epoch, instanceId: h.instanceId, name: h.name, pid: h.pid, endpoint: h.endpoint }
      : { event: 'free', reason: state.state === 'held' || state.state === 'unreadable' ? 'unreadable' : state.reason };
    if (values.json) process.stdout.write(JSON.stringify({ ...line, t: systemClock.now() }) + '\n');
    else
      process.stdout.write(
        `${new Date().toISOString()} ${h ? `owner: ${h.name || h.instanceId} pid ${h.pid}, epoch ${h.epoch}, ${h.endpoint ?? ''}` : `free (${line.reason})`}\n`,
      );
  }
  release();
  await store.close();
}
