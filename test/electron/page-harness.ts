/**
 * What the Chromium tests of the example page share: the repository served as the app's file:// pages
 * would see it, and the real preload wrapped as Electron would run it.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join as joinPath, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { RendererBridge } from '../../src/electron/bridge.js';
import { EVENT_CHANNEL, REQUEST_CHANNEL } from '../../src/electron/renderer-api.js';
import { createFakeContextBridge } from './fake-context-bridge.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The example app's window (app/main.ts). */
export const APP_WINDOW = { width: 960, height: 720 };
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.cjs': 'text/javascript' };

/** Serves the repository read-only (app/renderer and out/), as the app's file:// pages would see it. */
export async function serveRepo(): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!path.startsWith('/app/renderer/') && !path.startsWith('/out/')) return void res.writeHead(404).end();
    try {
      const body = await readFile(joinPath(ROOT, path));
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/**
 * The preload as Electron would run it: `contextBridge` behaves as Electron's (fake-context-bridge.ts) and
 * ipcRenderer structured-clones what it sends and receives; only the IPC hop itself is a binding.
 */
export function preloadScript(preloadSource: string): string {
  return `(() => {
    const contextBridge = (${createFakeContextBridge.toString()})(window);
    const listeners = new Map();
    window.__leaseholdEmit = (channel, payload) => { for (const l of listeners.get(channel) ?? []) l({}, structuredClone(payload)); };
    const electron = {
      contextBridge: { exposeInMainWorld: (name, api) => contextBridge.exposeInMainWorld(name, api) },
      ipcRenderer: {
        invoke: async (channel, ...args) => window.__leaseholdInvoke(channel, ...structuredClone(args)),
        on: (channel, listener) => { if (!listeners.has(channel)) listeners.set(channel, new Set()); listeners.get(channel).add(listener); },
      },
    };
    const module = { exports: {} };
    (function (require, module, exports) {\n${preloadSource}\n})(
      (m) => { if (m === 'electron') return electron; throw new Error('a sandboxed preload cannot require ' + m); },
      module, module.exports);
  })();`;
}

/**
 * A page at `url` as an attached window of `bridge`: its connection made before the page loads (as
 * attach() does), the real preload, and the IPC hop as a binding. `onRequest` sees every request.
 */
export async function openPage(
  browser: Browser,
  url: string,
  bridge: RendererBridge,
  preload: string,
  options: { viewport?: { width: number; height: number }; onRequest?: (request: unknown) => void } = {},
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage(options.viewport ? { viewport: options.viewport } : {});
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const emit = (arg: { channel: string; event: unknown }) =>
    (globalThis as unknown as { __leaseholdEmit?: (c: string, e: unknown) => void }).__leaseholdEmit?.(arg.channel, arg.event);
  const connection = bridge.connect(
    (event) => void page.evaluate(emit, { channel: EVENT_CHANNEL, event: event as unknown }).catch(() => undefined),
  );
  await page.exposeFunction('__leaseholdInvoke', (channel: string, request: unknown) => {
    options.onRequest?.(request);
    return channel === REQUEST_CHANNEL
      ? connection.handle(request)
      : { ok: false, error: { code: 'EPROTOCOL', message: 'unknown channel' } };
  });
  await page.addInitScript({ content: preloadScript(preload) });
  await page.goto(url);
  return { page, errors };
}
