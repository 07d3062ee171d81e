/** Child processes for integration tests: spawn compiled fixtures, collect JSON-line logs, clean up. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
/** Absolute path of a compiled file under out/, given relative to out/test/integration. */
export const outPath = (rel: string) => join(here, rel);

export interface Proc {
  child: ChildProcess;
  pid: number;
  lines: Record<string, unknown>[];
  stderr: string;
  exited: Promise<number | null>;
  /** Resolves with the first logged line matching `pred` (including lines already logged). */
  waitFor(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(line: string): void;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface SpawnOptions {
  /** The child's limit on open file descriptors (a shell's `ulimit -n`), as a Finder-started app gets. */
  nofile?: number;
  /**
   * Runs the child as on another host: in UTS, network, pid and mount namespaces of its own (`unshare`,
   * root only) with this host name, a loopback and a /proc of its own (so no process of the first host is
   * visible, as on another computer); `before` is a shell command run there first.
   */
  host?: { name: string; before?: string };
}

const UNSHARE = ['--uts', '--net', '--pid', '--fork', '--mount-proc'];

/** Whether this machine lets a test make namespaces and set them up as SpawnOptions.host does. */
export function canUnshare(): boolean {
  return (
    spawnSync('unshare', [...UNSHARE, '/bin/sh', '-c', 'ip link set lo up && hostname probe'], { stdio: 'ignore' }).status === 0
  );
}

export function spawnNode(
  script: string,
  args: string[],
  onLine?: (line: Record<string, unknown>, p: Proc) => void,
  options: SpawnOptions = {},
): Proc {
  const stdio: ['pipe', 'pipe', 'pipe'] = ['pipe', 'pipe', 'pipe'];
  const child = options.host
    ? spawn(
        'unshare',
        [
          ...UNSHARE,
          '/bin/sh',
          '-c',
          `ip link set lo up && hostname ${options.host.name} || exit 1\n${options.host.before ?? ''}\nexec "$0" "$@"`,
          process.execPath,
          script,
          ...args,
        ],
        { stdio },
      )
    : options.nofile === undefined
      ? spawn(process.execPath, [script, ...args], { stdio })
      : spawn('/bin/sh', ['-c', `ulimit -n ${options.nofile} && exec "$0" "$@"`, process.execPath, script, ...args], { stdio });
  live.add(child);
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  const proc: Proc = {
    child,
    pid: child.pid!,
    lines,
    stderr: '',
    exited: new Promise((resolve) =>
      child.on('exit', (code) => {
        live.delete(child);
        resolve(code);
      }),
    ),
    waitFor(pred, timeoutMs = 10_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (l: Record<string, unknown>) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `pid ${proc.pid}: no matching line within ${timeoutMs} ms; last lines:\n${lines
                .slice(-8)
                .map((l) => JSON.stringify(l))
                .join('\n')}\nstderr: ${proc.stderr.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(w);
      });
    },
    send(line) {
      if (child.stdin && !child.stdin.destroyed) child.stdin.write(line + '\n');
    },
  };
  child.stdin!.on('error', () => undefined);
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (proc.stderr += d));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      line = { ev: 'stdout', text };
    }
    lines.push(line);
    onLine?.(line, proc);
    for (const w of [...waiters])
      if (w.pred(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
  });
  return proc;
}

export async function killAll(procs: Iterable<Proc>): Promise<void> {
  const list = [...procs];
  for (const p of list) {
    try {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(list.map((p) => p.exited));
}
