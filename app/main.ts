/**
 * The example app's main process: every window of every launched instance shows one shared state.
 * Launch it several times; quit the owner (it hands over) or kill it (the others fail over).
 *
 * A launch with `--add-todo=TEXT` while the app runs is a second launch in the single-instance sense: it
 * forwards the todo to the owner, which adds it, brings a window forward and answers; the launch then
 * exits with the owner's status. A window's "Ask the owner" sends a request to whichever instance owns.
 */
import { app, BrowserWindow } from 'electron';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createAppCoordinator } from '../src/electron/index.js';
import { reducers } from './reducers.js';
import { answerLaunches, launchedTodo, OWNER_REQUEST, ownerInfo, secondLaunch } from './launches.js';
import type { AppAction, AppState } from './state.js';

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));
const addTodo = launchedTodo(process.argv);
const PRELOAD = here('../src/electron/preload.cjs');
const PAGE = here('../../app/renderer/index.html');

// Before ready (it gives this process its own Chromium session data). Every instance joins one lease;
// LEASEHOLD_DATA_ROOT lets tests and demos use a fresh root.
const coordinator = createAppCoordinator<AppState, AppAction>(app, {
  app: 'leasehold-example',
  name: `${app.getName()} ${process.pid}`,
  reducers,
  ...(process.env.LEASEHOLD_DATA_ROOT ? { dataRoot: process.env.LEASEHOLD_DATA_ROOT } : {}),
  // The one page of this app: windows may not navigate elsewhere, and only it may use leasehold.
  trustPage: (url) => url.protocol === 'file:' && fileURLToPath(url) === PAGE,
  // Forwarded to the running app, which answers: only a launch that brings a todo. Any other launch stays,
  // another instance with windows of its own (what this example is about).
  secondLaunch,
  ...(addTodo !== undefined ? { launchPayload: { addTodo } } : {}),
  commands: {
    'new-window': () => void openWindow(),
    'launch-instance': () => {
      // Another process of this same app (as a second launch from the dock or a shortcut would be).
      const args = process.argv.slice(1).filter((a) => launchedTodo([a]) === undefined); // it brings no todo
      const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore', env: process.env });
      child.unref();
      return child.pid ?? null;
    },
    quit: () => app.quit(),
    // A request to whichever instance owns, from this one (it may be the owner itself).
    'ask-owner': async (): Promise<unknown> => (await coordinator.ready).request(OWNER_REQUEST, null, { timeoutMs: 5000 }),
  },
});

// Registered on every instance: the owner's runs.
void coordinator.ready.then((instance) => instance.handle(OWNER_REQUEST, ownerInfo(instance, () => BrowserWindow.getAllWindows().length)));

// A launch forwarded to this instance while it owns: add its todo, bring a window forward, answer.
coordinator.onLaunch(
  answerLaunches(coordinator.ready, () => {
    const win = BrowserWindow.getAllWindows()[0] ?? openWindow();
    if (win.isMinimized()) win.restore();
    win.focus();
  }),
);

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

// Windows only for a launch that stays (one that forwarded exits with the owner's status).
void coordinator.primary.then((stays) => {
  if (!stays) return;
  openWindow();
  // The first launch, or one whose forward failed: add its todo here.
  if (addTodo !== undefined) void coordinator.ready.then((i) => i.state.dispatch({ type: 'todo/add', payload: addTodo })).catch(() => undefined);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) openWindow();
  });
});
app.on('window-all-closed', () => app.quit());
