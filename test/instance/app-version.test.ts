/** Comparing app versions: dotted numbers, pre-releases below their release, unknown below everything. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareAppVersions, newest, compareCode } from '../../src/instance/app-version.js';

describe('compareAppVersions', () => {
  it('orders versions as an auto-update moves through them', () => {
    const ordered = ['', 'nightly', '0.9', '1.0.0-alpha', '1.0.0-beta.2', '1.0.0', 'v1.0.1', '1.9.2', '1.10.0', '2.0.0-rc.1', '2.0.0'];
    for (let i = 0; i < ordered.length; i++)
      for (let j = 0; j < ordered.length; j++) {
        const want = Math.sign(i - j);
        const got = compareAppVersions(ordered[i]!, ordered[j]!);
        // '' and 'nightly' are both unknown: equal to each other.
        const same = i <= 1 && j <= 1;
        assert.equal(got, same ? 0 : want, `${ordered[i]} vs ${ordered[j]}`);
      }
    assert.equal(compareAppVersions('1.2', '1.2.0'), 0);
  });

  it('newest picks the first of the newest', () => {
    const items = [
      { n: 'a', v: '1.0.0' },
      { n: 'b', v: '1.1.0' },
      { n: 'c', v: '1.1.0' },
      { n: 'd', v: '' },
    ];
    assert.equal(newest(items, (x) => ({ appVersion: x.v }))?.n, 'b');
    assert.equal(newest([], (x: { v: string }) => ({ appVersion: x.v })), undefined);
  });

  it('compares code by the state version it knows first (none below any), then by app version', () => {
    assert.ok(compareCode({ stateVersion: 2, appVersion: '1.0.0' }, { stateVersion: 1, appVersion: '9.0.0' }) > 0);
    assert.ok(compareCode({ stateVersion: 0, appVersion: '' }, { appVersion: '9.0.0' }) > 0, 'a declared version beats none');
    assert.ok(compareCode({ stateVersion: 1, appVersion: '1.1.0' }, { stateVersion: 1, appVersion: '1.0.0' }) > 0);
    assert.equal(compareCode({ appVersion: '1.0.0' }, { appVersion: '1.0.0' }), 0);
    const items = [
      { n: 'a', stateVersion: 1, appVersion: '2.0.0' },
      { n: 'b', stateVersion: 2, appVersion: '1.0.0' },
    ];
    assert.equal(newest(items, (x) => x)?.n, 'b');
  });
});
