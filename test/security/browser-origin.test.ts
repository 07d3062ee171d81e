/**
 * A web page in a real browser must never reach the owner: Chromium sends an Origin header with every
 * WebSocket handshake, and the owner refuses any handshake that has one (HTTP 403) before a socket exists.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from '../../src/instance/instance.js';
import { tempRoot } from '../helpers.js';
import { launchChromium, noChromium } from '../browser.js';

describe('a browser page against the owner', () => {
  it('is refused, and the owner keeps serving its followers', { skip: noChromium }, async () => {
    const root = await tempRoot();
    const owner = join({ dataRoot: root.dir, ttlMs: 2000 });
    const follower = join({ dataRoot: root.dir, ttlMs: 2000 });
    // The hostile page, served from its own origin (as any web site the user visits would be).
    const page = createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title>'));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    const browser = await launchChromium();
    try {
      await owner.whenOwner();
      await follower.whenConnected();
      const endpoint = owner.endpoint!;
      assert.match(endpoint, /^ws:\/\/127\.0\.0\.1:\d+/);
      const tab = await browser.newPage();
      await tab.goto(`http://127.0.0.1:${(page.address() as AddressInfo).port}/`);
      const outcome = await tab.evaluate(
        (url) =>
          new Promise<{ opened: boolean; code: number }>((resolve) => {
            const ws = new WebSocket(url);
            let opened = false;
            ws.onopen = () => (opened = true);
            ws.onclose = (e) => resolve({ opened, code: e.code });
          }),
        endpoint,
      );
      assert.deepEqual(outcome, { opened: false, code: 1006 }, 'the handshake failed: no socket was ever open');
      // Nothing changed for the instances.
      assert.equal(owner.role, 'owner');
      assert.deepEqual(
        owner.instances.map((i) => i.instanceId).sort(),
        [owner.instanceId, follower.instanceId].sort(),
        'the browser never joined',
      );
      const v = await follower.state.set('still', 'serving');
      assert.ok(v >= 1);
    } finally {
      await browser.close();
      page.close();
      await Promise.all([follower.close(), owner.close()]);
      await root.remove();
    }
  });
});
