// The main process of a minimal app on leasehold (compiled by test/electron/examples.test.ts).
import { app, BrowserWindow } from 'electron';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Reducers } from 'leasehold';
import { createAppCoordinator } from 'leasehold/electron';

export interface NotesState {
  notes?: string[];
}

const reducers: Reducers<NotesState> = {
  'note/add': (state, text) => ({ ...state, notes: [...(state.notes ?? []), String(text)] }),
};

// At the top of main, before `ready`: it gives this process its own Chromium session data, joins once
// the app is ready, and hands over when the app quits. A launch that opens a file while the app runs is
// forwarded to the owner, which answers; the launch then exits with that status.
const file = process.argv.find((a) => a.endsWith('.md'));
const coordinator = createAppCoordinator<NotesState>(app, {
  app: 'notes',
  reducers,
  stateVersion: 1,
  secondLaunch: (argv) => (argv.some((a) => a.endsWith('.md')) ? 'forward' : 'stay'),
  ...(file ? { launchPayload: { file } } : {}),
});

coordinator.onLaunch(async (launch) => {
  const opened = (launch.payload as { file?: string } | undefined)?.file;
  if (!opened) return 2;
  await (await coordinator.ready).state.dispatch({ type: 'note/add', payload: `opened ${opened}` });
  BrowserWindow.getAllWindows()[0]?.focus();
  return { status: 0, value: { opened } };
});

void coordinator.primary.then((stays) => {
  if (!stays) return; // forwarded: the coordinator exits with the owner's status
  const win = new BrowserWindow({
    width: 800,
    height: 600,
    webPreferences: {
      preload: createRequire(import.meta.url).resolve('leasehold/electron/preload'),
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
    },
  });
  coordinator.attach(win.webContents);
  void win.loadFile(fileURLToPath(new URL('./index.html', import.meta.url)));
});
app.on('window-all-closed', () => app.quit());
