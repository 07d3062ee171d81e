/** `leasehold instance` output: lines of one turn leave in one write, and none is lost at exit. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { outPath } from '../integration/proc.js';

it('event lines of one turn are written at once after it; pending ones are written at process.exit()', () => {
  const instance = pathToFileURL(outPath('../../src/cli/instance.js')).href;
  const script = `
    import { out } from ${JSON.stringify(instance)};
    const write = process.stdout.write.bind(process.stdout);
    let writes = 0;
    process.stdout.write = (chunk, ...rest) => (writes++, write(chunk, ...rest));
    out({ event: 'a' });
    out({ event: 'b' });
    out({ event: 'c' });
    const before = writes;
    setImmediate(() => setImmediate(() => {
      process.stderr.write(JSON.stringify({ before, after: writes }));
      out({ event: 'last' });
      process.exit(0);
    }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stderr), { before: 0, after: 1 }, 'nothing during the turn, one write after it');
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; t: number });
  assert.deepEqual(
    lines.map((l) => l.event),
    ['a', 'b', 'c', 'last'],
  );
  assert.ok(
    lines.every((l, i) => typeof l.t === 'number' && (i === 0 || l.t >= lines[i - 1]!.t)),
    'stamped in order',
  );
});
