import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpgrade, hostAllowed } from '../../src/transport/upgrade-check.js';

describe('checkUpgrade', () => {
  const secret = 'abcDEF_123-xyz';
  const ok = { host: '127.0.0.1:4000', authorization: `Bearer ${secret}` };

  it('accepts the secret on this loopback listener, in any spelling of loopback', () => {
    for (const host of ['127.0.0.1:4000', 'localhost:4000', 'LocalHost:4000', '[::1]:4000'])
      assert.equal(checkUpgrade({ ...ok, host }, secret, 4000), undefined, host);
  });

  it('refuses browser origins with 403, before looking at anything else', () => {
    assert.equal(checkUpgrade({ ...ok, origin: 'https://example.com' }, secret, 4000)?.status, 403);
    assert.equal(checkUpgrade({ ...ok, origin: 'null' }, secret, 4000)?.status, 403);
    assert.equal(checkUpgrade({ ...ok, 'sec-websocket-origin': 'x' }, secret, 4000)?.status, 403);
    assert.equal(checkUpgrade({ origin: 'https://example.com' }, secret, 4000)?.status, 403);
  });

  it('refuses a Host that is not this listener with 403 (DNS rebinding)', () => {
    for (const host of ['evil.example:4000', '127.0.0.1', '127.0.0.1:4001', 'localhost', '127.0.0.2:4000', '0.0.0.0:4000', ''])
      assert.equal(checkUpgrade({ ...ok, host }, secret, 4000)?.status, 403, host);
    assert.equal(checkUpgrade({ authorization: ok.authorization }, secret, 4000)?.status, 403, 'no Host on TCP');
  });

  it('on a Unix socket accepts no Host or localhost only', () => {
    assert.equal(hostAllowed(undefined, undefined), true);
    assert.equal(hostAllowed('localhost', undefined), true);
    assert.equal(hostAllowed('evil.example', undefined), false);
    assert.equal(hostAllowed('localhost:80', undefined), false);
  });

  it('refuses a missing, malformed or wrong secret with 401', () => {
    for (const authorization of [undefined, '', 'Bearer', `Basic ${secret}`, 'Bearer wrong', `Bearer ${secret}x`, `Bearer ${secret} extra`])
      assert.equal(checkUpgrade({ host: ok.host, authorization }, secret, 4000)?.status, 401, String(authorization));
  });
});
