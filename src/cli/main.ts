/**
 * The `leasehold` command. Its output contract (JSON lines, exit codes) is documented in docs/cli.md and
 * kept stable: people, scripts and the black-box tests depend on it.
 */
import { parseArgs } from 'node:util';
import { LeaseholdError } from '../errors.js';

const USAGE = `usage:
  leasehold instance --data-root DIR [--key K] [--name NAME] [--transport tcp|ipc] [--ttl MS] [--snapshot-every N]
  leasehold status   --data-root DIR [--key K] [--json]
  leasehold watch    --data-root DIR [--key K] [--json]
  leasehold repair   --data-root DIR [--key K] [--json]   (a damaged journal; no owner may be running)
  leasehold demo     [--instances N] [--rounds N] [--transport tcp|ipc]
`;

export const commonOptions = {
  'data-root': { type: 'string' },
  key: { type: 'string' },
  app: { type: 'string' },
  name: { type: 'string' },
  transport: { type: 'string' },
  ttl: { type: 'string' },
  'snapshot-every': { type: 'string' },
  json: { type: 'boolean' },
  instances: { type: 'string' },
  rounds: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type CliValues = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: commonOptions, allowPositionals: true, strict: true });
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

export function intOption(values: CliValues, name: 'ttl' | 'instances' | 'rounds' | 'snapshot-every'): number | undefined {
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
  const [command] = parsed.positionals;
  if (parsed.values.help || !command) {
    process.stdout.write(USAGE);
    return;
  }
  try {
    switch (command) {
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
