/**
 * `LEASEHOLD_DEBUG=1`: one line on stderr per step of acquisition, handover and takeover, with this
 * process's monotonic time, for diagnosing failovers. Off by default; never prints secrets.
 */
import { systemClock } from './clock.js';

export const debugEnabled = Boolean(process.env.LEASEHOLD_DEBUG);

export function debug(message: string): void {
  if (debugEnabled) process.stderr.write(`leasehold[${process.pid}] ${systemClock.now().toFixed(2)} ${message}\n`);
}
