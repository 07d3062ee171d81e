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
// the app is ready, and hands over when the app quits.
const coordinator = createAppCoordinator<NotesState>(app, { app: 'notes', reducers });

app.whenReady().then(() => {
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
