/**
 * The example app end to end in Electron (Playwright's _electron): two app processes on one data root;
 * quitting the owner makes the other window the owner, with the state intact.
 *
 * Runs wherever an Electron binary exists (ELECTRON_OVERRIDE_DIST_PATH, or node_modules/electron/dist);
 * elsewhere it is skipped and says why (these machines cannot download the binary).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { tempRoot } from '../helpers.js';
// @ts-expect-error: a plain JS helper shared with the npm scripts
import { findElectron } from '../../../scripts/electron-binary.js';

const electron = findElectron() as { path: string } | { why: string };
const skip = 'path' in electron ? false : `Electron end-to-end tests skipped: ${electron.why}`;
if (skip) console.log(`# ${skip}`);
const MAIN = fileURLToPath(new URL('../../app/main.js', import.meta.url));

describe('the example app in Electron', { skip }, () => {
  it('two app processes share one state; quitting the owner hands over', async () => {
    const { _electron } = await import('playwright-core');
    const root = await tempRoot();
    const env = { ...process.env, LEASEHOLD_DATA_ROOT: root.dir } as Record<string, string>;
    const launch = () => _electron.launch({ executablePath: (electron as { path: string }).path, args: [MAIN], env });
    const first = await launch();
    const second = await launch();
    try {
      const a = await first.firstWindow();
      const b = await second.firstWindow();
      await a.locator('#role', { hasText: 'Owner' }).waitFor();
      await b.locator('#role', { hasText: 'Follower' }).waitFor();
      await b.fill('#todo-text', 'from the second process');
      await b.click('#add-form button[type=submit]');
      await a.locator('#todos li span', { hasText: 'from the second process' }).waitFor();
      await a.click('#increment');
      await b.locator('#counter', { hasText: '1' }).waitFor();
      await first.close(); // quits the owner: it hands over before exiting
      await b.locator('#role', { hasText: 'Owner' }).waitFor({ timeout: 10_000 });
      assert.equal(await b.locator('#counter').textContent(), '1');
      assert.deepEqual(await b.locator('#todos li span').allTextContents(), ['from the second process']);
    } finally {
      await Promise.allSettled([first.close(), second.close()]);
      await root.remove();
    }
  });
});
