// Finds an Electron binary without ever downloading one (requiring the `electron` package would try to).
// Used by `npm start`, `npm run dist` and the Electron end-to-end tests.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const defaults = { linux: 'electron', darwin: 'Electron.app/Contents/MacOS/Electron', win32: 'electron.exe' };

/** @returns {{ path: string } | { why: string }} */
export function findElectron() {
  let pkgDir;
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return { why: 'the electron package is not installed (run npm install)' };
  }
  const pathFile = join(pkgDir, 'path.txt');
  const rel = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : (defaults[process.platform] ?? 'electron');
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const path = override ? join(override, rel) : join(pkgDir, 'dist', rel);
  if (existsSync(path)) return { path };
  return {
    why: override
      ? `ELECTRON_OVERRIDE_DIST_PATH is set but ${path} does not exist`
      : `no Electron binary is installed (${path} is missing; this machine cannot download it — set ELECTRON_OVERRIDE_DIST_PATH to an unpacked Electron ${readVersion(pkgDir)})`,
  };
}

function readVersion(pkgDir) {
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return '';
  }
}
