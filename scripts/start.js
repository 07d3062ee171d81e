// `npm start`: the example Electron app, named and stored as the packaged app is (see dev-app.js). With no
// Electron binary, Electron's installer runs first; only when that fails does `leasehold demo` run instead,
// after one sentence saying why.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureElectron } from './electron-binary.js';
import { prepareDevApp } from './dev-app.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const extra = process.argv.slice(2);
const electron = await ensureElectron();
const [cmd, args] =
  'path' in electron
    ? [electron.path, prepareDevApp(root, extra)]
    : [process.execPath, [fileURLToPath(new URL('../bin/leasehold.cjs', import.meta.url)), 'demo', ...extra]];
if (!('path' in electron)) console.log(`Running the terminal demo instead of the Electron app: ${electron.why}.`);
const child = spawn(cmd, args, { stdio: 'inherit', cwd: root });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
