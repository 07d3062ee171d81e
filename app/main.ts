/**
 * The example app's main process: every window of every launched instance shows one shared state.
 * Launch it several times; quit the owner (it hands over) or kill it (the others fail over).
 */
import { app, BrowserWindow } from 'electron';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createAppCoordinator } from '../src/electron/index.js';
import { reducers } from './reducers.js';
import type { AppState } from './state.js';

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));
const PRELOAD = here('../src/electron/preload.cjs');
const PAGE = here('../../app/renderer/index.html');

// Before ready (it gives this process its own Chromium session data). Every instance joins one lease;
// LEASEHOLD_DATA_ROOT lets tests and demos use a fresh root.
const coordinator = createAppCoordinator<AppState>(app, {
  app: 'leasehold-example',
  name: `${app.getName()} ${process.pid}`,
  reducers,
  ...(process.env.LEASEHOLD_DATA_ROOT ? { dataRoot: process.env.LEASEHOLD_DATA_ROOT } : {}),
  // The one page of this app: windows may not navigate elsewhere, and only it may use leasehold.
  trustPage: (url) => url.protocol === 'file:' && fileURLToPath(url) === PAGE,
  commands: {
    'new-window': () => void openWindow(),
    'launch-instance': () => {
      // Another process of this same app (as a second launch from the dock or a shortcut would be).
      const child = spawn(process.execPath, process.argv.slice(1), { detached: true, stdio: 'ignore', env: process.env });
      child.unref();
      return child.pid ?? null;
    },
    quit: () => app.quit(),
  },
});

function openWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 960,
    height: 720,
    title: 'leasehold example',
    webPreferences: { preload: PRELOAD, sandbox: true, contextIsolation: true, nodeIntegration: false },
  });
  coordinator.attach(win.webContents);
  void win.loadFile(PAGE);
  return win;
}

void app.whenReady().then(() => {
  openWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) openWindow();
  });
});
app.on('window-all-closed', () => app.quit());
