/**
 * The one-shot commands (`get`, `set`, `ps`), `--help` and `--version`, and `instance` with piped stdin:
 * real processes, observed through their output and exit status only.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BIN, Cluster } from '../integration/cluster.js';
import { outPath } from '../integration/proc.js';
import { tempRoot, until } from '../helpers.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command without blocking this process (an owner may live in it, or answer from a child). */
function cli(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe('one-shot commands', () => {
  it('with no owner running: set commits, get reads it back, a missing path exits 3, bad input exits 2', async () => {
    const root = await tempRoot();
    try {
      const r = ['--data-root', root.dir];
      const set = await cli(['set', 'a.b', '{"c":[1,2]}', ...r]);
      assert.equal(set.status, 0, set.stderr);
      assert.equal(set.stdout, '1\n', 'the version it was committed at');
      assert.equal((await cli(['set', 'title', '"hello"', ...r])).stdout, '2\n');

      // A later process, with nobody running in between: the state came back from the journal.
      const get = await cli(['get', 'a', ...r]);
      assert.equal(get.status, 0, get.stderr);
      assert.deepEqual(JSON.parse(get.stdout), { b: { c: [1, 2] } });
      assert.deepEqual(JSON.parse((await cli(['get', ...r])).stdout), { a: { b: { c: [1, 2] } }, title: 'hello' });
      assert.deepEqual(lines((await cli(['get', 'title', '--json', ...r])).stdout), [
        { path: 'title', version: 2, found: true, value: 'hello' },
      ]);

      const missing = await cli(['get', 'a.zzz', ...r]);
      assert.equal(missing.status, 3);
      assert.equal(missing.stdout, '');
      for (const bad of [
        ['set', 'a', '{not json', ...r],
        ['set', 'a', ...r],
        ['set', 'constructor.x', '1', ...r],
        ['get', 'a..b', ...r],
        ['get', 'a', 'b', ...r],
        ['set', 'a', '1'],
      ]) {
        const out = await cli(bad);
        assert.equal(out.status, 2, `${bad.join(' ')}: ${out.stderr}`);
        assert.match(out.stderr, /^leasehold: /, bad.join(' '));
      }
      assert.deepEqual(
        JSON.parse((await cli(['get', ...r])).stdout),
        { a: { b: { c: [1, 2] } }, title: 'hello' },
        'refusals changed nothing',
      );
    } finally {
      await root.remove();
    }
  });

  it('with an owner and a follower running: set reaches both, get reads it, ps lists them and not itself', async () => {
    cluster = await Cluster.create(['--ttl', '2000']);
    const owner = cluster.start(['--app-version', '2.0.0']);
    await owner.proc.waitFor((l) => l.event === 'role' && l.role === 'owner');
    const follower = cluster.start(['--app-version', '1.9.1']);
    await follower.proc.waitFor((l) => l.event === 'connected');
    const r = ['--data-root', cluster.dataRoot];

    const set = await cli(['set', 'n', '41', ...r]);
    assert.equal(set.status, 0, set.stderr);
    const version = Number(set.stdout);
    await follower.proc.waitFor((l) => l.event === 'change' && l.version === version);
    assert.equal((await cli(['get', 'n', ...r])).stdout, '41\n');

    const ps = await cli(['ps', '--json', ...r]);
    assert.equal(ps.status, 0, ps.stderr);
    const rows = lines(ps.stdout);
    assert.deepEqual(
      rows.map((x) => [x.name, x.role, x.pid, x.appVersion]).sort(),
      [
        [owner.name, 'owner', owner.proc.pid, '2.0.0'],
        [follower.name, 'follower', follower.proc.pid, '1.9.1'],
      ].sort(),
      'both instances, and not the command itself',
    );
    assert.ok(
      rows.every((x) => !Number.isNaN(Date.parse(String(x.since)))),
      'since is an ISO time',
    );
    const table = await cli(['ps', ...r]);
    assert.match(table.stdout.split('\n')[0]!, /^ROLE +PID +VERSION +SINCE +INSTANCE +NAME$/);
    assert.match(table.stdout, /\bowner +\d+ +2\.0\.0 /);
    assert.equal(table.stdout.trim().split('\n').length, 3);
    assert.deepEqual(cluster.doubleOwners(), []);
    assert.equal(cluster.owners().length, 1, 'the commands never took ownership from the running owner');
  });

  it("call prints the owner's reply; with no owner running (no handler) it exits 1 with ENOHANDLER", async () => {
    cluster = await Cluster.create(['--ttl', '2000']);
    const r = ['--data-root', cluster.dataRoot];
    const alone = await cli(['call', 'echo', '{"a":1}', ...r]);
    assert.equal(alone.status, 1);
    assert.match(alone.stderr, /ENOHANDLER/);
    const owner = cluster.start();
    await owner.proc.waitFor((l) => l.event === 'role' && l.role === 'owner');
    owner.proc.send(JSON.stringify({ op: 'handle', name: 'echo', id: 'h' }));
    await owner.proc.waitFor((l) => l.event === 'handler');
    const call = await cli(['call', 'echo', '{"a":1}', ...r]);
    assert.equal(call.status, 0, call.stderr);
    const reply = JSON.parse(call.stdout) as { by: string; payload: unknown };
    assert.deepEqual([reply.by, reply.payload], [owner.name, { a: 1 }]);
    const json = lines((await cli(['call', 'echo', '--json', ...r])).stdout)[0] as { name: string; value: { payload: unknown } };
    assert.deepEqual([json.name, json.value.payload], ['echo', null]);
    assert.equal((await cli(['call', ...r])).status, 2, 'a NAME is required');
    assert.equal((await cli(['call', 'echo', '{bad', ...r])).status, 2, 'the payload must be JSON');
  });

  it('a command that gets no answer in --timeout exits 1 with ETIMEOUT', async () => {
    cluster = await Cluster.create(['--ttl', '10000']);
    const owner = cluster.start();
    await owner.proc.waitFor((l) => l.event === 'role' && l.role === 'owner');
    owner.proc.child.kill('SIGSTOP'); // holds the lease for 10 s, answers nobody
    try {
      const get = await cli(['get', '--timeout', '500', '--data-root', cluster.dataRoot]);
      assert.equal(get.status, 1);
      assert.match(get.stderr, /^leasehold: ETIMEOUT: no owner answered within 500 ms/);
    } finally {
      owner.proc.child.kill('SIGCONT');
    }
  });
});

describe('--help and --version', () => {
  it('every command has its own help, listing the flags it accepts', async () => {
    const all = await cli(['--help']);
    assert.equal(all.status, 0);
    for (const command of ['instance', 'get', 'set', 'call', 'ps', 'status', 'watch', 'repair', 'demo']) {
      assert.match(all.stdout, new RegExp(`leasehold ${command}\\b`), command);
      const one = await cli([command, '--help']);
      assert.equal(one.status, 0, command);
      assert.match(one.stdout, new RegExp(`^usage: leasehold ${command}\\b`), command);
    }
    const get = (await cli(['get', '--help'])).stdout;
    for (const flag of ['--data-root', '--key', '--app', '--timeout', '--json']) assert.ok(get.includes(flag), `get --help lists ${flag}`);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(outPath('../../../package.json'), 'utf8')) as { version: string };
    const v = await cli(['--version']);
    assert.equal(v.status, 0);
    assert.equal(v.stdout, `leasehold ${pkg.version}\n`);
  });
});

describe('instance with piped stdin', () => {
  it('answers every command read before stdin closed: a piped set gets its ack, a piped get the synced state', async () => {
    const root = await tempRoot();
    try {
      const r = ['instance', '--data-root', root.dir];
      const first = lines((await cli(r, '{"op":"set","path":"a","value":1,"id":"s"}\n{"op":"get","id":"g"}\n')).stdout);
      const ack = first.find((l) => l.event === 'ack');
      assert.deepEqual({ id: ack?.id, version: ack?.version }, { id: 's', version: 1 }, 'the set is acknowledged, not ECLOSED');
      const state = first.find((l) => l.event === 'state');
      assert.deepEqual({ version: state?.version, state: state?.state }, { version: 1, state: { a: 1 } }, 'get sees the set before it');

      // The exact case: a get alone, on a data root that has a state.
      const second = lines((await cli(r, '{"op":"get"}\n')).stdout);
      const got = second.find((l) => l.event === 'state');
      assert.deepEqual({ version: got?.version, state: got?.state }, { version: 1, state: { a: 1 } }, 'not {} at version 0');
      assert.ok(
        [...first, ...second].every((l) => l.event !== 'change' || l.mutation !== null),
        'a replaced replica is a snapshot line, not a change without a mutation',
      );
      assert.ok(second.some((l) => l.event === 'snapshot' && l.version === 1));
    } finally {
      await root.remove();
    }
  });

  it('a follower prints each presence list once', async () => {
    cluster = await Cluster.create(['--ttl', '2000']);
    const owner = cluster.start();
    await owner.proc.waitFor((l) => l.event === 'role' && l.role === 'owner');
    const follower = cluster.start();
    await follower.proc.waitFor((l) => l.event === 'presence' && (l.instances as unknown[]).length === 2);
    const third = cluster.start();
    await follower.proc.waitFor((l) => l.event === 'presence' && (l.instances as unknown[]).length === 3);
    const seen = follower.proc.lines.length;
    third.proc.child.kill('SIGTERM');
    await until(
      () => follower.proc.lines.slice(seen).some((l) => l.event === 'presence' && (l.instances as unknown[]).length === 2),
      10_000,
      'the presence list after the third left',
    );
    const presence = follower.proc.lines.filter((l) => l.event === 'presence').map((l) => JSON.stringify({ ...l, t: 0 }));
    for (let i = 1; i < presence.length; i++) assert.notEqual(presence[i], presence[i - 1], `line ${i} repeats the one before`);
    assert.ok(presence.length >= 3);
  });
});
