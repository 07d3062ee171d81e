// `npm run dist`: packages the example app with electron-builder (AppImage and deb here; dmg and nsis on
// their platforms). electron-builder needs the Electron binary, which this machine cannot download.
import { spawnSync } from 'node:child_process';
import { findElectron } from './electron-binary.js';

const electron = findElectron();
if (!('path' in electron)) {
  console.error(`Cannot package: ${electron.why}.`);
  process.exit(2);
}
const r = spawnSync('npx', ['electron-builder', '--config', 'electron-builder.yml', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
