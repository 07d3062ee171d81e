/** Whether a record's process runs on this machine, and whether it is gone. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { bootId, currentProcess, isOnThisMachine, isProcessGone, processStartOf } from '../../src/lease/process-identity.js';
import { existsSync, readFileSync } from 'node:fs';
import { deadPid } from '../helpers.js';

const linux = process.platform === 'linux';

describe('process identity', () => {
  it('a holder is on this machine by host name, or, after a host name change, by a live pid with its start time', () => {
    const me = currentProcess();
    assert.equal(isOnThisMachine({ pid: 999_999_999, processStart: null, host: me.host }), true, 'the same name');
    assert.equal(isOnThisMachine({ pid: me.pid, processStart: me.start, host: 'renamed-since' }), linux, 'this very process, renamed');
    assert.equal(isOnThisMachine({ pid: me.pid, processStart: 'linux:1', host: 'elsewhere' }), false, 'another start time: another process');
    // No start time (a holder on macOS or Windows): a live pid here is taken for it, a gone one is not.
    assert.equal(isOnThisMachine({ pid: me.pid, processStart: null, host: 'renamed-since' }), true);
    assert.equal(isOnThisMachine({ pid: deadPid(), processStart: null, host: 'elsewhere' }), false);
  });

  it('a holder is gone when its pid is gone or reused; one on another host never is', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    await new Promise((r) => child.once('spawn', r));
    const holder = { pid: child.pid!, processStart: processStartOf(child.pid!), host: currentProcess().host };
    assert.equal(isProcessGone(holder), false);
    assert.equal(isProcessGone({ ...holder, host: 'elsewhere' }), false);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(isProcessGone(holder), true);
    assert.equal(isProcessGone({ ...holder, host: 'elsewhere' }), false, 'another host: cannot tell, so not gone');
  });
});

describe('bootId', () => {
  it('is the kernel boot id where there is one (Linux), the same at every call; null elsewhere', () => {
    const file = '/proc/sys/kernel/random/boot_id';
    const expected = existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
    assert.equal(bootId(), expected);
    assert.equal(bootId(), expected);
    if (expected !== null) assert.match(expected, /^[0-9a-f-]{36}$/);
  });
});
