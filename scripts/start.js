// `npm start`: the example Electron app where an Electron binary exists; otherwise `leasehold demo`.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findElectron } from './electron-binary.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const electron = findElectron();
const [cmd, args] =
  'path' in electron
    ? [electron.path, [fileURLToPath(new URL('../out/app/main.js', import.meta.url)), ...process.argv.slice(2)]]
    : [process.execPath, [fileURLToPath(new URL('../bin/leasehold.cjs', import.meta.url)), 'demo', ...process.argv.slice(2)]];
if (!('path' in electron)) console.log(`Running the terminal demo instead of the Electron app: ${electron.why}.`);
const child = spawn(cmd, args, { stdio: 'inherit', cwd: root });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
