/** `leasehold watch`: prints every ownership change as it happens, until interrupted. */
import { FileLeaseStore } from '../lease/file-store.js';
import { toHolder } from '../coordinator.js';
import { requireDataRoot, type CliValues } from './main.js';
import { keyOf } from './status.js';
import { keepProcessAlive, sleep, systemClock } from '../clock.js';

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
    const state = await store.describe(key);
    const h = state.state === 'held' ? toHolder(state.record) : undefined;
    const fp = h ? `held ${h.instanceId} ${h.epoch}` : state.state;
    if (fp !== last) {
      last = fp;
      const line = h
        ? { event: 'owner', epoch: h.epoch, instanceId: h.instanceId, name: h.name, pid: h.pid, endpoint: h.endpoint }
        : { event: 'free', reason: state.state === 'free' ? state.reason : 'corrupt' };
      if (values.json) process.stdout.write(JSON.stringify({ ...line, t: systemClock.now() }) + '\n');
      else
        process.stdout.write(
          `${new Date().toISOString()} ${h ? `owner: ${h.name || h.instanceId} pid ${h.pid}, epoch ${h.epoch}, ${h.endpoint ?? ''}` : `free (${line.reason})`}\n`,
        );
    }
    // Any change: a new holder, a release, an expiry. waitUntilReleased returns at once on a free key, so poll.
    await (h ? store.waitUntilReleased(key, { signal: stop.signal }) : sleep(systemClock, 25, stop.signal)).catch(() => undefined);
  }
  release();
  await store.close();
}
