import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseKey } from '../../src/lease/key.js';
import { LeaseholdError } from '../../src/errors.js';

describe('LeaseKey', () => {
  it('round-trips parse(String(key)) for escaped segments', () => {
    const cases: string[][] = [
      ['app', 'notes', 'owner'],
      ['system', 'updater'],
      ['app', 'my/app', 'owner'],
      ['app', 'café', 'lease', 'deep'],
      ['app', '..', 'x'],
      ['app', '.hidden', 'a%b'],
      ['system', 'C:\\win:name*?'],
    ];
    for (const segs of cases) {
      const key = LeaseKey.of(...segs);
      const back = LeaseKey.parse(String(key));
      assert.deepEqual([...back.segments], segs);
      assert.ok(back.equals(key));
      for (const part of key.pathSegments()) assert.match(part, /^[A-Za-z0-9_~%-][A-Za-z0-9._~%-]*$/, `safe path part for ${segs}`);
    }
    assert.equal(String(LeaseKey.of('app', 'my/app', 'owner')), '/app/my%2Fapp/owner');
    assert.equal(String(LeaseKey.forApp('notes')), '/app/notes/owner');
  });

  it('rejects invalid keys naming the key', () => {
    const bad = [
      '',
      'app/x/y',
      '/',
      '/app//owner',
      '/app/x',
      '/system',
      '/other/x',
      '/app/a b/c',
      '/app/a\tb/c',
      '/app/x/\u0001',
      '/app/x/y/',
      '/app/%ZZ/y',
      '/app/%FF/y',
    ];
    for (const text of bad) {
      assert.throws(
        () => LeaseKey.parse(text),
        (e) => e instanceof LeaseholdError && e.code === 'EINVALIDKEY' && e.key === text && e.message.includes(JSON.stringify(text)),
        text,
      );
    }
    assert.throws(
      () => LeaseKey.of('app', ' ', 'x'),
      (e) => e instanceof LeaseholdError && e.code === 'EINVALIDKEY',
    );
  });
});
