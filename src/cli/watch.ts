/** `leasehold watch`: prints every ownership change as it happens (in a data root, or in etcd), until interrupted. */
import { observe, type Observation } from '../lease/observe.js';
import { toHolder } from '../instance/instance.js';
import type { CliValues } from './main.js';
import { openLeaseStore } from './lease-store.js';
import { keyOf } from './status.js';
import { keepProcessAlive, systemClock } from '../clock.js';

/**
 * How often the key is read besides its change notifications: an expiry (a crashed holder) changes
 * nothing on disk, so only a read notices it. @default 25 ms
 */
export const WATCH_POLL_MS = 25;
/** …and from etcd, whose watch reports an expiry too (its lock key is deleted): a read is a round trip to the cluster. */
export const WATCH_ETCD_POLL_MS = 250;

/** What a line is printed for: a holder (instance and epoch), or the reason the key is free. */
function fingerprint(seen: Observation): string | undefined {
  if (seen.state === 'unreadable') return undefined; // being rewritten: read again
  if (seen.state === 'held') return `held ${seen.record.instanceId} ${seen.record.epoch}`;
  return seen.state === 'free' ? 'free' : `unknown ${seen.reason}`;
}

export async function runWatch(values: CliValues): Promise<void> {
  const { store, close } = await openLeaseStore(values, { createDataRoot: true });
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
        pollIntervalMs: values.etcd !== undefined ? WATCH_ETCD_POLL_MS : WATCH_POLL_MS,
        signal: stop.signal,
      });
    } catch (err) {
      if (stop.signal.aborted) break; // interrupted
      release();
      await close();
      throw err; // the store cannot be read (etcd unreachable past its call timeout, a data root gone): exit 1
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
  await close();
  // etcd's client keeps retrying a watch that never reached etcd, even once closed: leave anyway, once
  // what was printed is written (stdout to a pipe is asynchronous).
  if (values.etcd !== undefined) {
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(process.exitCode ?? 0);
  }
}
