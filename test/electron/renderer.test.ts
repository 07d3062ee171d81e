/**
 * The example app's renderer in real Chromium, against real leasehold instances in this process.
 *
 * Only the IPC hop is replaced: each page runs the real compiled preload (out/src/electron/preload.cjs)
 * with a stand-in for `require('electron')` whose ipcRenderer.invoke goes to a RendererBridge through a
 * Playwright binding, and whose events come back through page.evaluate. Two pages on two instances:
 * a change in one appears in the other; closing the owner's instance makes the other page the owner with
 * the state intact. Screenshots go to out/screenshots/.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { join, type Instance } from '../../src/instance/instance.js';
import { RendererBridge } from '../../src/electron/bridge.js';
import { BRIDGE_KEY, EVENT_CHANNEL, REQUEST_CHANNEL } from '../../src/electron/renderer-api.js';
import { reducers } from '../../app/reducers.js';
import { OWNER_REQUEST, ownerInfo } from '../../app/launches.js';
import type { AppAction, AppState } from '../../app/state.js';
import { tempRoot } from '../helpers.js';
import { launchChromium, noChromium } from '../browser.js';
import { APP_WINDOW, openPage, serveRepo } from './page-harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = joinPath(ROOT, 'out', 'screenshots');
async function openWindow(browser: Awaited<ReturnType<typeof launchChromium>>, url: string, bridge: RendererBridge, preload: string) {
  const opened = await openPage(browser, url, bridge, preload, { viewport: APP_WINDOW });
  await opened.page.waitForFunction(() => typeof (globalThis as { leasehold?: unknown }).leasehold === 'object');
  return opened;
}

const roleOf = (page: Page) => page.locator('#role').textContent();

describe('the example app in Chromium', { skip: noChromium }, () => {
  it('two windows on two instances share one state, and the follower takes over when the owner quits', async () => {
    const root = await tempRoot();
    const preload = await readFile(joinPath(ROOT, 'out', 'src', 'electron', 'preload.cjs'), 'utf8');
    assert.ok(
      preload.includes(`'${REQUEST_CHANNEL}'`) && preload.includes(`'${EVENT_CHANNEL}'`) && preload.includes(`'${BRIDGE_KEY}'`),
      'the preload uses the contract’s channels and key',
    );
    await mkdir(SHOTS, { recursive: true });
    const server = await serveRepo();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app/renderer/index.html`;
    const a: Instance<AppState, AppAction> = join<AppState, AppAction>({ dataRoot: root.dir, ttlMs: 2000, reducers, name: 'instance A' });
    await a.whenOwner();
    const b: Instance<AppState, AppAction> = join<AppState, AppAction>({ dataRoot: root.dir, ttlMs: 2000, reducers, name: 'instance B' });
    await b.whenConnected();
    await b.state.whenSynced();
    // The example's request to the owner, registered on both as app/main.ts does, and its window command.
    for (const i of [a, b]) i.handle(OWNER_REQUEST, ownerInfo(i, () => 1));
    const bridgeA = new RendererBridge(a, { commands: { 'ask-owner': () => a.request(OWNER_REQUEST) } });
    const bridgeB = new RendererBridge(b, { commands: { 'ask-owner': () => b.request(OWNER_REQUEST) } });
    const browser = await launchChromium();
    try {
      const wa = await openWindow(browser, url, bridgeA, preload);
      const wb = await openWindow(browser, url, bridgeB, preload);
      await wa.page.locator('#role', { hasText: 'Owner · epoch 1' }).waitFor();
      await wb.page.locator('#role', { hasText: 'Follower · epoch 1' }).waitFor();
      await wb.page.locator('#instances li', { hasText: 'instance A' }).waitFor();

      // A change in one window appears in the other (the todo goes through the owner's reducer).
      await wa.page.fill('#todo-text', 'buy milk');
      await wa.page.click('#add-form button[type=submit]');
      await wb.page.locator('#todos li span', { hasText: 'buy milk' }).waitFor();
      await wb.page.click('#increment');
      await wb.page.click('#increment');
      await wa.page.locator('#counter', { hasText: '2' }).waitFor();
      await wb.page.locator('#todos li input[type=checkbox]').first().click(); // checked once the owner's change comes back
      await wa.page.locator('#todos li.done span', { hasText: 'buy milk' }).waitFor();
      await wa.page.fill('#todo-text', 'call the plumber');
      await wa.page.click('#add-form button[type=submit]');
      await wb.page.locator('#todos li span', { hasText: 'call the plumber' }).waitFor();
      // The follower's window asks the owner (a request), and shows who answered.
      await wb.page.click('#ask-owner');
      await wb.page.locator('#owner-answer', { hasText: 'instance A (pid' }).waitFor();
      await wa.page.screenshot({ path: joinPath(SHOTS, 'owner-window.png') });
      await wb.page.screenshot({ path: joinPath(SHOTS, 'follower-window.png') });

      // Bad input from a page is refused with a code; the state is unchanged.
      const refusals = await wb.page.evaluate(async () => {
        const api = (
          globalThis as unknown as { leasehold: { set(p: string, v: unknown): Promise<number>; command(n: string): Promise<unknown> } }
        ).leasehold;
        const outcome = (p: Promise<unknown>) =>
          p.then(
            () => 'accepted',
            (e: { code?: string }) =>
              e instanceof Error ? (e.code ?? `an Error without code: ${e.message}`) : `not an Error: ${String(e)}`,
          );
        return Promise.all(
          [api.set('__proto__.polluted', 1), api.command('rm -rf /'), api.set('x', (() => undefined) as unknown)].map(outcome),
        );
      });
      assert.deepEqual(refusals, ['EPROTOCOL', 'EPROTOCOL', 'EPROTOCOL'], 'refusals reach the page as Errors with their code');
      const versionBefore = b.state.version;

      // The owner's instance quits (a graceful handover): B's window shows it owns, with the state intact.
      await a.close();
      await wb.page.locator('#role', { hasText: 'Owner · epoch 2' }).waitFor({ timeout: 10_000 });
      assert.equal(await wb.page.locator('#counter').textContent(), '2');
      assert.deepEqual(await wb.page.locator('#todos li span').allTextContents(), ['buy milk', 'call the plumber']);
      assert.equal(b.state.version, versionBefore);
      await wb.page.locator('#timeline li', { hasText: 'this instance became the owner (epoch 2)' }).waitFor();
      await wb.page.locator('#instances li', { hasText: 'instance B' }).filter({ hasText: 'owner' }).waitFor();
      assert.equal(await wb.page.locator('#instances li').count(), 1, 'A left the instance list');
      await wb.page.click('#increment'); // and it serves
      await wb.page.locator('#counter', { hasText: '3' }).waitFor();
      await wb.page.screenshot({ path: joinPath(SHOTS, 'after-handover.png') });
      assert.match((await roleOf(wa.page)) ?? '', /Owner|closed/);
      assert.deepEqual([...wa.errors, ...wb.errors], [], 'no page errors');
    } finally {
      await browser.close();
      bridgeA.close();
      bridgeB.close();
      server.close();
      await Promise.all([a.close(), b.close()]);
      await root.remove();
    }
  });
});
