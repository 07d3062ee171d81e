/**
 * A data root shared by two hosts (a home directory on NFS or SMB, a roaming profile), each "host" a
 * process in UTS, network and pid namespaces of its own (`unshare`): the instance on the other host never
 * connects to the owner's loopback endpoint, so never sends its secret to whatever listens on that port
 * there; it says who owns and where (`other-host`), and owns once the first host's owner leaves.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join as joinPath } from 'node:path';
import { Cluster } from './cluster.js';
import { canUnshare, outPath } from './proc.js';
import { delay } from '../helpers.js';

const SQUATTER = outPath('fixtures/squatter.js');
let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const skip = canUnshare() ? false : 'no namespaces here: unshare (root or CAP_SYS_ADMIN) and ip (iproute2) are needed';

describe('a data root shared between hosts', { skip }, () => {
  it('the other host never connects to the owner’s loopback endpoint, says who owns where, and owns after it', async () => {
    cluster = await Cluster.create(['--ttl', '2000']);
    const a = cluster.start();
    const owner = await a.proc.waitFor((l) => l.event === 'role' && l.role === 'owner');
    const port = /^ws:\/\/127\.0\.0\.1:(\d+)\/$/.exec(String(owner.endpoint))?.[1];
    assert.ok(port, `a tcp endpoint: ${String(owner.endpoint)}`);
    // On host B, something else listens on the port A advertises: it must never hear from B's instance.
    const heard = joinPath(cluster.dataRoot, 'squatter-heard');
    const b = cluster.start([], { host: { name: 'host-b', before: `"${process.execPath}" "${SQUATTER}" ${port} "${heard}" < /dev/null > /dev/null 2>&1 &` } });
    const other = await b.proc.waitFor((l) => l.event === 'other-host', 10_000);
    assert.equal(other.host, hostname());
    assert.equal(other.ownerId, owner.instanceId);
    await delay(1000);
    assert.equal(readFileSync(heard, 'utf8'), '', 'nothing was sent to 127.0.0.1:PORT on host B (no secret)');
    assert.equal(b.proc.lines.filter((l) => l.event === 'connected').length, 0);
    assert.equal(b.role, 'follower');
    const presence = a.proc.lines.filter((l) => l.event === 'presence').at(-1);
    assert.deepEqual((presence?.instances as unknown[] | undefined)?.length ?? 1, 1, 'A never saw B');

    // A leaves: B owns, on host B; an instance started on A's host now sees the owner elsewhere.
    a.proc.child.kill('SIGTERM');
    assert.equal(await a.proc.exited, 0);
    await b.proc.waitFor((l) => l.event === 'role' && l.role === 'owner', 10_000);
    const c = cluster.start();
    const seen = await c.proc.waitFor((l) => l.event === 'other-host', 10_000);
    assert.equal(seen.host, 'host-b');
    assert.deepEqual(cluster.doubleOwners(), []);
  });
});
