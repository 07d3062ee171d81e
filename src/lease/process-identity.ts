/**
 * Is the process that wrote a lease record still running?
 *
 * Guarantees: `isProcessGone` answers true only when it is certain: the pid does not exist, or (on Linux)
 * it exists but started at a different time, so the pid was reused. Everything else (another host, a pid in
 * another user's name, an OS where the start time cannot be read) answers false, and the caller falls back
 * to waiting for the ttl. Not guaranteed: correct answers across pid namespaces (containers).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessIdentity {
  pid: number;
  /** An opaque token for the process start, or null where it cannot be read. */
  start: string | null;
  host: string;
}

/** Reads the start time of `pid` (Linux: /proc/<pid>/stat field 22, clock ticks since boot). */
export function processStartOf(pid: number): string | null {
  return readProcStat(pid)?.start ?? null;
}

function readProcStat(pid: number): { start: string; zombie: boolean } | null {
  if (process.platform !== 'linux') return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19]; // field 22 overall; fields[0] here is field 3, the state
    return start ? { start: `linux:${start}`, zombie: fields[0] === 'Z' || fields[0] === 'X' } : null;
  } catch {
    return null;
  }
}

let self: ProcessIdentity | undefined;

export function currentProcess(): ProcessIdentity {
  self ??= { pid: process.pid, start: processStartOf(process.pid), host: hostname() };
  return self;
}

/**
 * Whether the holder runs on this machine: the same host name, or (the host name changed since the holder
 * started, as macOS and NetworkManager do when the network changes) a process here with its pid and start
 * time; where the holder's start time is unknown (macOS, Windows), any live process here with its pid.
 * That last guess can take a holder on another computer for a local one (a pid that happens to be in use
 * here): the caller then only tries to connect, and gets no proof of the secret (secret.ts).
 */
export function isOnThisMachine(holder: { pid: number; processStart: string | null; host: string }): boolean {
  if (holder.host === currentProcess().host) return true;
  if (holder.processStart !== null) return processStartOf(holder.pid) === holder.processStart;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists, as another user's
  }
}

export function isProcessGone(holder: { pid: number; processStart: string | null; host: string }): boolean {
  const me = currentProcess();
  if (holder.host !== me.host) return false;
  if (holder.pid === me.pid) return holder.processStart !== null && me.start !== null && holder.processStart !== me.start;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  const now = readProcStat(holder.pid);
  if (now === null) return false;
  // A killed process stays a zombie until its parent reaps it: it holds nothing.
  if (now.zombie) return true;
  return holder.processStart !== null && now.start !== holder.processStart;
}

let boot: string | null | undefined;
/**
 * This machine beyond its host name: the kernel's boot id (Linux), which two cloned machines with one host
 * name do not share; null where there is none (macOS, Windows). Read once.
 */
export function bootId(): string | null {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      boot = null;
    }
  }
  return boot;
}
