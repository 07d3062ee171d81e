/**
 * The `leasehold` command. Its output contract (JSON lines, exit codes) is documented in docs/cli.md and
 * kept stable: people, scripts and the black-box tests depend on it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LeaseholdError } from '../errors.js';

const KEY_FLAGS = '[--key K | --app A]';
/** Each command's synopsis: every flag it accepts (`leasehold <command> --help` prints it). */
const COMMANDS: Record<string, string> = {
  instance: `leasehold instance --data-root DIR ${KEY_FLAGS} [--name NAME] [--app-version V] [--state-version N] [--transport tcp|ipc] [--ttl MS] [--snapshot-every N]
    joins and stays: JSON event lines on stdout, JSON commands on stdin (docs/cli.md)`,
  get: `leasehold get [PATH] --data-root DIR ${KEY_FLAGS} [--timeout MS] [--json]
    prints the value at PATH (the whole state without PATH); exit 3 when nothing is there`,
  set: `leasehold set PATH JSON --data-root DIR ${KEY_FLAGS} [--timeout MS] [--json]
    commits one set and prints its version (a string value is quoted JSON: '"text"')`,
  call: `leasehold call NAME [JSON] --data-root DIR ${KEY_FLAGS} [--timeout MS] [--json]
    sends a request to the owner's handler NAME and prints its reply (exit 1 with its code on failure)`,
  ps: `leasehold ps --data-root DIR ${KEY_FLAGS} [--timeout MS] [--json]
    lists the running instances: role, pid, app version, since, instance id, name`,
  status: `leasehold status (--data-root DIR | --etcd URL[,URL…]) ${KEY_FLAGS} [--json]
    who holds the lease (exit 0), or why it is free (exit 3)`,
  watch: `leasehold watch (--data-root DIR | --etcd URL[,URL…]) ${KEY_FLAGS} [--json]
    prints every ownership change as it happens`,
  repair: `leasehold repair --data-root DIR ${KEY_FLAGS} [--json]
    repairs a damaged journal (instances in role failed); no owner may be running`,
  demo: `leasehold demo [--instances N] [--rounds N] [--transport tcp|ipc]
    starts N instances on a temp data root and shows each takeover with its measured time`,
};

const USAGE = `usage:
${Object.values(COMMANDS)
  .map((c) => '  ' + c.split('\n')[0])
  .join('\n')}
  leasehold --version
  leasehold <command> --help
`;

export const commonOptions = {
  'data-root': { type: 'string' },
  etcd: { type: 'string' },
  key: { type: 'string' },
  app: { type: 'string' },
  name: { type: 'string' },
  'app-version': { type: 'string' },
  'state-version': { type: 'string' },
  transport: { type: 'string' },
  ttl: { type: 'string' },
  'snapshot-every': { type: 'string' },
  json: { type: 'boolean' },
  instances: { type: 'string' },
  rounds: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export type CliValues = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: commonOptions, allowPositionals: true, strict: true });
}

/** The version in the package's package.json (found upward from this file: bundled or not). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'leasehold' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

export function fail(message: string, code = 2): never {
  process.stderr.write(`leasehold: ${message}\n`);
  process.exit(code);
}

export function requireDataRoot(values: CliValues): string {
  const dir = values['data-root'];
  if (!dir) fail('--data-root DIR is required\n' + USAGE);
  return dir;
}

export function intOption(
  values: CliValues,
  name: 'ttl' | 'instances' | 'rounds' | 'snapshot-every' | 'timeout' | 'state-version',
): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const [command, ...args] = parsed.positionals;
  if (parsed.values.version) {
    process.stdout.write(`leasehold ${packageVersion()}\n`);
    return;
  }
  if (parsed.values.help || !command) {
    const one = command !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
    process.stdout.write(one ? `usage: ${one}\n` : USAGE);
    return;
  }
  // Instances keep their state in the data root: over etcd only the lease can be read (status, watch).
  if (parsed.values.etcd !== undefined && command !== 'status' && command !== 'watch')
    fail('--etcd works with status and watch only (the lease); this command needs --data-root DIR');
  try {
    switch (command) {
      case 'get':
        return await (await import('./oneshot.js')).runGet(parsed.values, args);
      case 'set':
        return await (await import('./oneshot.js')).runSet(parsed.values, args);
      case 'call':
        return await (await import('./oneshot.js')).runCall(parsed.values, args);
      case 'ps':
        return await (await import('./oneshot.js')).runPs(parsed.values, args);
      case 'instance':
        return await (await import('./instance.js')).runInstance(parsed.values);
      case 'status':
        return await (await import('./status.js')).runStatus(parsed.values);
      case 'watch':
        return await (await import('./watch.js')).runWatch(parsed.values);
      case 'repair':
        return await (await import('./repair.js')).runRepair(parsed.values);
      case 'demo':
        return await (await import('./demo.js')).runDemo(parsed.values);
      default:
        fail(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof LeaseholdError) fail(`${err.code}: ${err.message}`, 1);
    throw err;
  }
}
