/**
 * The example app's page in real Chromium, one window per instance process (distinct pids), each page on
 * the real compiled preload with the fake contextBridge (as renderer.test.ts), its IPC going to a
 * RendererBridge in its own child process (fixtures/bridge-process.ts). Screenshots at the app's window
 * size go to out/screenshots/ (two-processes-*.png).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { EVENT_CHANNEL, REQUEST_CHANNEL, type BridgeReply } from '../../src/electron/renderer-api.js';
import { tempRoot } from '../helpers.js';
import { launchChromium, noChromium } from '../browser.js';
import { APP_WINDOW, preloadScript, serveRepo } from './page-harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = joinPath(ROOT, 'out', 'screenshots');
const FIXTURE = fileURLToPath(new URL('./fixtures/bridge-process.js', import.meta.url));

function startInstance(dataRoot: string, name: string) {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE, dataRoot, name], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<number, (r: BridgeReply) => void>();
  const listeners = new Set<(e: unknown) => void>();
  let next = 0;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { id?: number; reply?: BridgeReply; event?: unknown };
    if (m.id !== undefined) (waiting.get(m.id)?.(m.reply!), waiting.delete(m.id));
    else for (const l of listeners) l(m.event);
  });
  return {
    pid: child.pid!,
    invoke: (request: unknown) =>
      new Promise<BridgeReply>((resolve) => {
        const id = next++;
        waiting.set(id, resolve);
        child.stdin!.write(JSON.stringify({ id, request }) + '\n');
      }),
    onEvent: (l: (e: unknown) => void) => listeners.add(l),
    stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.stdin!.end()))),
  };
}

describe('the example app, one window per instance process', { skip: noChromium }, () => {
  it('two processes (distinct pids) show one shared state', async () => {
    const root = await tempRoot();
    const preload = await readFile(joinPath(ROOT, 'out', 'src', 'electron', 'preload.cjs'), 'utf8');
    await mkdir(SHOTS, { recursive: true });
    const server = await serveRepo();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app/renderer/index.html`;
    const a = startInstance(root.dir, 'leasehold example A');
    const b = startInstance(root.dir, 'leasehold example B');
    const browser = await launchChromium();
    try {
      const open = async (inst: ReturnType<typeof startInstance>) => {
        const page = await browser.newPage({ viewport: APP_WINDOW });
        await page.exposeFunction('__leaseholdInvoke', (channel: string, request: unknown) =>
          channel === REQUEST_CHANNEL ? inst.invoke(request) : { ok: false, error: { code: 'EPROTOCOL', message: 'unknown channel' } },
        );
        await page.addInitScript({ content: preloadScript(preload) });
        await page.goto(url);
        await page.waitForFunction(() => typeof (globalThis as { __leaseholdEmit?: unknown }).__leaseholdEmit === 'function');
        const emit = (arg: { channel: string; event: unknown }) =>
          (globalThis as unknown as { __leaseholdEmit: (c: string, e: unknown) => void }).__leaseholdEmit(arg.channel, arg.event);
        inst.onEvent((event) => void page.evaluate(emit, { channel: EVENT_CHANNEL, event }).catch(() => undefined));
        // The status the bridge sent before this page listened: ask again.
        await page.evaluate(() => (globalThis as unknown as { leasehold: { status(): Promise<unknown> } }).leasehold.status());
        return page;
      };
      const pa = await open(a);
      const pb = await open(b);
      assert.notEqual(a.pid, b.pid);
      assert.notEqual(a.pid, process.pid);
      await pa.locator('#whoami', { hasText: `pid ${a.pid}` }).waitFor();
      await pb.locator('#whoami', { hasText: `pid ${b.pid}` }).waitFor();
      await pa.locator('#instances li').nth(1).waitFor({ timeout: 10_000 });
      await pb.locator('#instances li').nth(1).waitFor({ timeout: 10_000 });
      await pa.fill('#todo-text', 'added in one process');
      await pa.click('#add-form button[type=submit]');
      await pb.locator('#todos li span', { hasText: 'added in one process' }).waitFor();
      await pb.fill('#todo-text', 'added in the other');
      await pb.click('#add-form button[type=submit]');
      await pb.click('#increment');
      await pa.locator('#todos li span', { hasText: 'added in the other' }).waitFor();
      await pa.locator('#counter', { hasText: '1' }).waitFor();
      for (const p of [pa, pb]) {
        const pids = await p.locator('#instances li').allTextContents();
        assert.ok(pids.some((t) => t.includes(`pid ${a.pid}`)) && pids.some((t) => t.includes(`pid ${b.pid}`)), pids.join(' | '));
      }
      await pa.screenshot({ path: joinPath(SHOTS, 'two-processes-a.png') });
      await pb.screenshot({ path: joinPath(SHOTS, 'two-processes-b.png') });
    } finally {
      await browser.close();
      server.close();
      await Promise.all([a.stop(), b.stop()]);
      await root.remove();
    }
  });
});
