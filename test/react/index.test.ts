/**
 * leasehold/react in real Chromium: a page of hooks (fixtures/page.ts, bundled with React by esbuild) on
 * two real instances, through the real preload and a RendererBridge per instance, as in the renderer test.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo, Server } from 'node:net';
import type { Page } from 'playwright-core';
import { build } from 'esbuild';
import { join, type Instance } from '../../src/instance/instance.js';
import { RendererBridge } from '../../src/electron/bridge.js';
import { reducers } from '../../app/reducers.js';
import type { AppAction, AppState } from '../../app/state.js';
import { tempRoot } from '../helpers.js';
import { launchChromium, noChromium } from '../browser.js';
import { openPage, serveRepo } from '../electron/page-harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OUT = joinPath(ROOT, 'out', 'test', 'react');

/** A page of the fixture as an attached window of `bridge`, recording the paths it asks to watch. */
async function openHooksPage(browser: Awaited<ReturnType<typeof launchChromium>>, url: string, bridge: RendererBridge, preload: string) {
  const watched: unknown[] = [];
  const onRequest = (r: unknown) => void ((r as { op?: string })?.op === 'watch' && watched.push((r as { paths: unknown }).paths));
  return { ...(await openPage(browser, url, bridge, preload, { onRequest })), watched };
}

const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();
const renders = (page: Page) => page.evaluate(() => ({ ...(globalThis as unknown as { renders: Record<string, number> }).renders }));

describe('leasehold/react in Chromium', { skip: noChromium }, () => {
  let server: Server;
  before(async () => {
    await build({
      entryPoints: [joinPath(OUT, 'fixtures', 'page.js')],
      outfile: joinPath(OUT, 'page.bundle.js'),
      bundle: true,
      format: 'iife',
      platform: 'browser',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'warning',
    });
    await writeFile(
      joinPath(OUT, 'page.html'),
      '<!doctype html><meta charset="utf-8"><div id="root"></div><script src="page.bundle.js"></script>',
    );
    server = await serveRepo();
  });
  after(() => server?.close());

  it('hooks show the role, the watched values and the derived ones, re-render only on change, and follow a failover', async () => {
    const root = await tempRoot();
    const preload = await readFile(joinPath(ROOT, 'out', 'src', 'electron', 'preload.cjs'), 'utf8');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/out/test/react/page.html`;
    const a: Instance<AppState, AppAction> = join<AppState, AppAction>({ dataRoot: root.dir, ttlMs: 2000, reducers, name: 'A' });
    await a.whenOwner();
    const b: Instance<AppState, AppAction> = join<AppState, AppAction>({ dataRoot: root.dir, ttlMs: 2000, reducers, name: 'B' });
    await b.whenConnected();
    const bridgeA = new RendererBridge(a);
    const bridgeB = new RendererBridge(b);
    const browser = await launchChromium();
    try {
      const pa = await openHooksPage(browser, url, bridgeA, preload);
      const pb = await openHooksPage(browser, url, bridgeB, preload);
      await pa.page.locator('#role', { hasText: `owner ${a.epoch}` }).waitFor();
      await pb.page.locator('#role', { hasText: `follower ${a.epoch}` }).waitFor();
      assert.equal(await text(pa.page, 'open'), '0');

      // A click in one window (a follower's): both windows show it.
      await pb.page.click('#increment');
      await pa.page.locator('#counter', { hasText: '1' }).waitFor();
      await pb.page.locator('#counter', { hasText: '1' }).waitFor();
      await pa.page.click('#add');
      await pb.page.locator('#open', { hasText: '1' }).waitFor();

      // A change nobody shows: no component re-renders (the counter's path did not change; the open
      // todos' count is equal).
      const before = await renders(pb.page);
      const untyped = a as unknown as Instance; // a key AppState does not declare
      await untyped.state.set('other', 1);
      await untyped.state.set('other', 2);
      await b.state.whenSynced();
      await pb.page.waitForTimeout(200);
      assert.deepEqual(await renders(pb.page), before, 'no render for a change of another path');
      assert.deepEqual(pb.watched.at(-1)!, ['counter', ''], 'each path is watched once, for every component reading it');

      // The owner goes: the follower's window shows the new role and the state intact.
      const epoch = a.epoch;
      await a.close();
      await pb.page.locator('#role', { hasText: `owner ${epoch + 1}` }).waitFor();
      await pb.page.click('#increment');
      await pb.page.locator('#counter', { hasText: '2' }).waitFor();
      assert.equal(await text(pb.page, 'open'), '1');
      assert.deepEqual([...pa.errors, ...pb.errors], []);
    } finally {
      await browser.close();
      bridgeA.close();
      bridgeB.close();
      await Promise.all([a.close(), b.close()]);
      await root.remove();
    }
  });
});
