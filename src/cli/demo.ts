/**
 * `leasehold demo`: the main job, visible in a terminal with no setup. Starts N instance processes on a
 * temporary data root, shows who owns and who follows, then alternately stops the owner gracefully and
 * kills it (SIGKILL), showing each takeover with its measured time. Ctrl-C (or --rounds N) ends it and
 * leaves no process or file behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { keepProcessAlive, sleep, systemClock } from '../clock.js';
import { intOption, type CliValues } from './main.js';

/** The command's entry point, whether this module runs from out/src/cli/ or from the out/cli.cjs bundle. */
const BIN =
  ['../bin/leasehold.cjs', '../../../bin/leasehold.cjs']
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
    .find((p) => existsSync(p)) ?? process.argv[1]!;

interface Member {
  name: string;
  child: ChildProcess;
  pid: number;
  role: string;
  epoch: number;
  connectedEpoch: number;
  /** Monotonic time of the last role/connected event, per epoch. */
  ownerAt: Map<number, number>;
  connectedAt: Map<number, number>;
  lines: Record<string, unknown>[];
  exited: boolean;
}

export async function runDemo(values: CliValues): Promise<void> {
  const n = intOption(values, 'instances') ?? 3;
  const rounds = intOption(values, 'rounds');
  if (n < 2) throw new Error('--instances must be at least 2');
  const transport = values.transport ?? 'tcp';
  const root = mkdtempSync(join(tmpdir(), 'leasehold-demo-'));
  // The clock's timers are unref'd; the demo waits on them, so it keeps its own process alive.
  const release = keepProcessAlive();
  const members: Member[] = [];
  let counter = 0;
  let stopping = false;
  const log = (s: string) => process.stdout.write(s + '\n');

  const cleanup = () => {
    for (const m of members) if (!m.exited) m.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  };
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log('\nstopping: ending every instance and removing ' + root);
    cleanup();
    process.exit(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const start = (): Member => {
    const name = `demo-${++counter}`;
    const child = spawn(process.execPath, [BIN, 'instance', '--data-root', root, '--name', name, '--transport', transport], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const m: Member = {
      name,
      child,
      pid: child.pid!,
      role: 'starting',
      epoch: 0,
      connectedEpoch: 0,
      ownerAt: new Map(),
      connectedAt: new Map(),
      lines: [],
      exited: false,
    };
    child.on('exit', () => (m.exited = true));
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text);
      } catch {
        return;
      }
      m.lines.push(line);
      const t = line.t as number;
      if (line.event === 'role') {
        m.role = line.role as string;
        m.epoch = line.epoch as number;
        if (m.role === 'owner') {
          m.connectedEpoch = m.epoch;
          m.ownerAt.set(m.epoch, t);
        }
      } else if (line.event === 'connected') {
        m.connectedEpoch = line.epoch as number;
        m.connectedAt.set(line.epoch as number, t);
      }
    });
    members.push(m);
    return m;
  };

  const live = () => members.filter((m) => !m.exited && m.child.exitCode === null && !m.child.killed);
  const owner = () => live().find((m) => m.role === 'owner');
  /** One owner and everyone else connected to it, at an epoch above `after`. */
  const settled = (after: number) => {
    const o = owner();
    if (!o || o.epoch <= after) return undefined;
    return live().every((m) => m === o || (m.role === 'follower' && m.connectedEpoch === o.epoch)) ? o : undefined;
  };
  const waitSettled = async (after: number, timeoutMs = 15_000) => {
    const end = systemClock.now() + timeoutMs;
    for (;;) {
      const o = settled(after);
      if (o) return o;
      if (systemClock.now() > end) throw new Error('the instances did not settle on one owner in time');
      await sleep(systemClock, 2);
    }
  };
  const table = () => {
    const rows = live().map(
      (m) =>
        `  ${m.name.padEnd(8)} pid ${String(m.pid).padEnd(7)} ${m.role.padEnd(9)} epoch ${m.epoch}${m.role === 'follower' ? (m.connectedEpoch === m.epoch ? '  connected' : '  connecting…') : '  serving'}`,
    );
    return rows.join('\n');
  };

  log(`leasehold demo: ${n} instances on ${root} (${transport}); Ctrl-C to stop\n`);
  for (let i = 0; i < n; i++) start();
  let current = await waitSettled(0);
  log(`${current.name} owns epoch ${current.epoch}; ${n - 1} followers connected:\n${table()}\n`);

  let asked = 0;
  /** Sends a command to `m` and resolves with its answer (matched by id). */
  const ask = (m: Member, cmd: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = `demo-${++asked}`;
    m.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    return new Promise((resolve, reject) => {
      const end = systemClock.now() + 10_000;
      const look = () => {
        const line = m.lines.find((l) => l.id === id);
        if (line) return line.event === 'error' ? reject(new Error(String(line.message))) : resolve(line);
        if (systemClock.now() > end) return reject(new Error(`${m.name} did not answer`));
        void sleep(systemClock, 2).then(look);
      };
      look();
    });
  };
  let expected = 0;

  for (let round = 1; rounds === undefined || round <= rounds; round++) {
    // The shared state: a follower changes it just before the owner goes.
    const writer = live().find((m) => m.role === 'follower')!;
    const ack = await ask(writer, { op: 'increment', path: 'demo.counter' });
    await ask(writer, { op: 'push', path: 'demo.log', value: `round ${round} by ${writer.name}` });
    expected++;
    log(`round ${round}: ${writer.name} incremented the shared counter to ${expected} (version ${ack.version}, acknowledged = persisted)`);
    const graceful = round % 2 === 1;
    const old = current;
    const t0 = systemClock.now();
    log(`         ${graceful ? `stopping the owner ${old.name} gracefully (SIGTERM)` : `killing the owner ${old.name} (SIGKILL)`}`);
    old.child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    await new Promise<void>((r) => (old.exited ? r() : old.child.once('exit', () => r())));
    current = await waitSettled(old.epoch);
    const ownerMs = (current.ownerAt.get(current.epoch) ?? systemClock.now()) - t0;
    const followers = live().filter((m) => m !== current);
    const allMs = Math.max(ownerMs, ...followers.map((m) => (m.connectedAt.get(current.epoch) ?? t0) - t0));
    log(
      `  → ${current.name} owns epoch ${current.epoch}: new owner after ${ownerMs.toFixed(1)} ms, all ${followers.length} followers connected after ${allMs.toFixed(1)} ms`,
    );
    const seen = await ask(current, { op: 'get' });
    const counter = ((seen.state as { demo?: { counter?: number } }).demo?.counter ?? 0) as number;
    log(
      `  → the shared state survived: ${current.name} serves counter = ${counter} at version ${seen.version}${counter === expected ? '' : ` (EXPECTED ${expected})`}`,
    );
    start();
    current = await waitSettled(current.epoch - 1);
    log(table() + '\n');
    if (rounds === undefined || round < rounds) await sleep(systemClock, rounds === undefined ? 2000 : 200);
  }
  log('done.');
  stopping = true;
  for (const m of live()) m.child.kill('SIGTERM');
  await sleep(systemClock, 300);
  cleanup();
  release();
}
