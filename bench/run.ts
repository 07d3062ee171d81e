/**
 * `npm run bench`: every benchmark, one table, each figure beside its baseline from the same run.
 * Writes bench/results/latest.json. Select groups with arguments: `npm run bench -- lease`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { format, type Row } from './stats.js';
import { leaseBench } from './lease.js';
import { electionBench } from './election.js';
import { stateBench } from './state.js';
import { peersBench } from './peers.js';
import { journalBench } from './journal.js';
import { wideBench } from './wide.js';
import { takeoverBench } from './takeover.js';

const groups: Record<string, () => Promise<Row[]>> = {
  lease: () => leaseBench(),
  election: () => electionBench(),
  state: () => stateBench(),
  peers: () => peersBench(),
  journal: () => journalBench({ histories: [200_000], memoryHistories: [32_768, 131_072] }),
  // Its own group: the million-mutation owner alone writes for about a minute.
  'journal-1m': () => journalBench({ histories: [1_000_000], group: 'journal' }),
  takeover: () => takeoverBench([200_000]),
  'takeover-1m': () => takeoverBench([1_000_000]),
  join: async () => (await import('./join.js')).joinBench(),
  wide: () => wideBench(),
};

const wanted = process.argv.slice(2).filter((a) => a in groups);
const rows: Row[] = [];
for (const [name, run] of Object.entries(groups)) {
  if (wanted.length && !wanted.includes(name)) continue;
  // Each group starts from a quiet machine: the previous group's files (dozens of data roots, journals,
  // records) are still being written back by the kernel for up to 30 s, and that writeback slows the next
  // group's fdatasyncs. `sync` waits for it.
  execFileSync('sync');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  process.stderr.write(`running ${name}…\n`);
  rows.push(...(await run()));
}
const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${process.platform}`;
console.log(`machine: ${machine}\n`);
console.log(format(rows));
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2) + '\n');
