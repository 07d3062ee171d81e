/**
 * The example app end to end in Electron (Playwright's _electron), launched as `npm start` launches it:
 * three app processes on one data root, a second window in one of them. Writes from windows of two
 * processes (shared state, localStorage, IndexedDB); the owner quits (handover), then the next owner is
 * killed (failover); after each, the state is intact in every remaining window, and no process logged a
 * Chromium storage error.
 *
 * Where no Electron binary exists, Electron's installer is tried first (bounded: E2E_INSTALL_TIMEOUT_MS, or
 * LEASEHOLD_ELECTRON_INSTALL_TIMEOUT_MS); if that fails the test is skipped and says why, unless
 * LEASEHOLD_REQUIRE_ELECTRON=1 (the CI workflow), where it fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ElectronApplication, Page } from 'playwright-core';
import { tempRoot, until } from '../helpers.js';
import type { InstanceView } from '../../src/electron/renderer-api.js';
// @ts-expect-error: a plain JS helper shared with the npm scripts
import * as binary from '../../../scripts/electron-binary.js';
// @ts-expect-error: a plain JS helper shared with the npm scripts
import { prepareDevApp } from '../../../scripts/dev-app.js';

/** The installer's bound here: long enough to see it fail, short enough not to slow `npm test` down. */
const E2E_INSTALL_TIMEOUT_MS = 15_000;
const ROLE_CHANGE_TIMEOUT_MS = 15_000;
/** What Chromium logs when two processes fight over one profile's storage (LevelDB locks, IndexedDB, quota). */
const STORAGE_ERROR = /ERROR:.*(leveldb|indexed_?db|quota|storage|LOCK|database)|Failed to open .*(LevelDB|database)/i;

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const { ensureElectron, INSTALL_TIMEOUT_ENV } = binary as {
  ensureElectron(o: { timeoutMs?: number }): Promise<{ path: string } | { why: string }>;
  INSTALL_TIMEOUT_ENV: string;
};
const electron = await ensureElectron({ timeoutMs: process.env[INSTALL_TIMEOUT_ENV] ? undefined : E2E_INSTALL_TIMEOUT_MS });
const required = process.env.LEASEHOLD_REQUIRE_ELECTRON === '1';
const skip = 'path' in electron || required ? false : `Electron end-to-end tests skipped: ${electron.why}`;
if (skip) console.log(`# ${skip}`);

/** localStorage and IndexedDB written and read back in a window; resolves to what was read. */
const STORAGE_PROBE = (value: string) => `(async () => {
  localStorage.setItem('e2e', ${JSON.stringify(value)});
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open('e2e', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('kv');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const tx = (mode) => db.transaction('kv', mode).objectStore('kv');
  await new Promise((resolve, reject) => { const r = tx('readwrite').put(${JSON.stringify(value)}, 'k'); r.onsuccess = resolve; r.onerror = () => reject(r.error); });
  const read = await new Promise((resolve, reject) => { const r = tx('readonly').get('k'); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
  db.close();
  return [localStorage.getItem('e2e'), read];
})()`;

const statusOf = (page: Page) => page.evaluate('window.leasehold.status()') as Promise<InstanceView>;

async function expectState(pages: Page[], counter: string, todos: string[]): Promise<void> {
  for (const page of pages) {
    await page.locator('#counter', { hasText: counter }).waitFor();
    assert.deepEqual(await page.locator('#todos li span').allTextContents(), todos);
  }
}

describe('the example app in Electron', { skip }, () => {
  it('three processes share one state and storage; handover and failover keep it in every window', async () => {
    if (!('path' in electron)) assert.fail(`LEASEHOLD_REQUIRE_ELECTRON=1 but ${electron.why}`);
    const { _electron } = await import('playwright-core');
    const root = await tempRoot();
    const env = { ...process.env, LEASEHOLD_DATA_ROOT: root.dir } as Record<string, string>;
    const logs: string[] = [];
    const apps: ElectronApplication[] = [];
    const launch = async () => {
      const app = await _electron.launch({ executablePath: electron.path, args: prepareDevApp(ROOT), env });
      apps.push(app);
      const tag = `[process ${apps.length}] `;
      app.process().stderr?.on('data', (c) => logs.push(tag + String(c)));
      app.on('window', (page) => page.on('console', (m) => m.type() === 'error' && logs.push(`${tag}console: ${m.text()}`)));
      const page = await app.firstWindow();
      page.on('console', (m) => m.type() === 'error' && logs.push(`${tag}console: ${m.text()}`));
      return { app, page };
    };
    try {
      const a = await launch();
      await a.page.locator('#role', { hasText: 'Owner' }).waitFor();
      const b = await launch();
      const c = await launch();
      for (const p of [b.page, c.page]) await p.locator('#role', { hasText: 'Follower' }).waitFor();

      // Named as the packaged app, so not sharing ~/.config/Electron with every unnamed Electron app.
      const [name, userData] = await b.app.evaluate(({ app }) => [app.getName(), app.getPath('userData')]);
      assert.equal(name, 'leasehold example');
      assert.match(userData!, /leasehold example$/);

      // Each process has its own Chromium session data under the data root (not userData's profile).
      const sessions = await Promise.all([a, b, c].map((p) => p.app.evaluate(({ app }) => app.getPath('sessionData'))));
      assert.equal(new Set(sessions).size, 3, `distinct session data: ${sessions.join(', ')}`);
      for (const dir of sessions) assert.ok(dir.startsWith(join(root.dir, 'leasehold', 'sessions')), dir);

      // Refusals reach the page as Errors that keep their code across the real contextBridge.
      const refused = await b.page.evaluate(
        "window.leasehold.set('__proto__.x', 1).then(() => 'accepted', (e) => [e instanceof Error, e.code, e.name])",
      );
      assert.deepEqual(refused, [true, 'EPROTOCOL', 'LeaseholdRendererError']);

      // A second window in process b.
      const opened = b.app.waitForEvent('window');
      await b.page.evaluate("window.leasehold.command('new-window')");
      const b2 = await opened;

      await b.page.fill('#todo-text', 'from process b');
      await b.page.click('#add-form button[type=submit]');
      await c.page.click('#increment');
      await expectState([a.page, b.page, b2, c.page], '1', ['from process b']);
      assert.deepEqual(await b2.evaluate(STORAGE_PROBE('b')), ['b', 'b']);
      assert.deepEqual(await c.page.evaluate(STORAGE_PROBE('c')), ['c', 'c']);

      // Handover: the owner quits, and its session data goes with it.
      await a.app.close();
      await until(() => !existsSync(sessions[0]!), 5000, 'the quitting process removed its session data');
      const survivors = [b, c];
      const owner = await until(
        async () => {
          for (const s of survivors) if ((await statusOf(s.page)).role === 'owner') return s;
          return undefined;
        },
        ROLE_CHANGE_TIMEOUT_MS,
        'a new owner after the handover',
      );
      await expectState([b.page, b2, c.page], '1', ['from process b']);
      await c.page.click('#increment');
      await expectState([b.page, b2, c.page], '2', ['from process b']);

      // Failover: the new owner is killed.
      owner.app.process().kill('SIGKILL');
      const last = survivors.find((s) => s !== owner)!;
      await last.page.locator('#role', { hasText: 'Owner' }).waitFor({ timeout: ROLE_CHANGE_TIMEOUT_MS });
      const lastPages = last.app.windows();
      await expectState(lastPages, '2', ['from process b']);
      await last.page.click('#increment');
      await expectState(lastPages, '3', ['from process b']);
      for (const page of lastPages) assert.equal((await statusOf(page)).role, 'owner');

      assert.deepEqual(
        logs.filter((l) => STORAGE_ERROR.test(l)),
        [],
        'no Chromium storage errors',
      );
    } finally {
      await Promise.allSettled(apps.map((app) => app.close()));
      await root.remove();
    }
  });
});
