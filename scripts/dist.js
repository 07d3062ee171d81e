// `npm run dist`: packages the example app with electron-builder (AppImage and deb on Linux, dmg on macOS,
// nsis on Windows). It packs the Electron that ensureElectron() found or installed (`electronDist`), so
// electron-builder downloads no second copy; with none, it exits 2 and says why.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { ensureElectron } from './electron-binary.js';

const electron = await ensureElectron();
if (!('path' in electron)) {
  console.error(`Cannot package: ${electron.why}.`);
  process.exit(2);
}
const cli = createRequire(import.meta.url).resolve('electron-builder/cli.js');
const args = ['--config', 'electron-builder.yml', `-c.electronDist=${electron.dist}`, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
