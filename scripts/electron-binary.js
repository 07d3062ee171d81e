// The Electron binary for `npm start`, `npm run dist` and the Electron end-to-end tests.
//
// The electron package has no install script: it downloads its binary the first time `require('electron')`
// runs, or through its `install-electron` bin (install.js). findElectron() only looks; ensureElectron()
// runs that installer when no binary is there, bounded in time and with its output shown, then looks again.
// What is not guaranteed: that the download works. When it does not, ensureElectron() says why in one
// sentence (the installer's own error, with its cause), and the caller falls back.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * How long the installer may take: a download of about 100 MB on an ordinary connection, with room to
 * spare. Overridden by LEASEHOLD_ELECTRON_INSTALL_TIMEOUT_MS (the tests set a short one).
 */
export const INSTALL_TIMEOUT_MS = 120_000;
export const INSTALL_TIMEOUT_ENV = 'LEASEHOLD_ELECTRON_INSTALL_TIMEOUT_MS';

const defaults = { linux: 'electron', darwin: 'Electron.app/Contents/MacOS/Electron', win32: 'electron.exe' };
const ERROR_CAUSES = fileURLToPath(new URL('./error-causes.cjs', import.meta.url));

function electronPackageDir() {
  try {
    return dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return undefined;
  }
}

/**
 * Looks for the binary without downloading anything. `dist` is the unpacked Electron it belongs to (what
 * electron-builder's `electronDist` takes).
 * @returns {{ path: string, dist: string } | { why: string }}
 */
export function findElectron() {
  const pkgDir = electronPackageDir();
  if (!pkgDir) return { why: 'the electron package is not installed (run npm install)' };
  const pathFile = join(pkgDir, 'path.txt');
  const rel = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : (defaults[process.platform] ?? 'electron');
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const dist = override || join(pkgDir, 'dist');
  const path = join(dist, rel);
  if (existsSync(path)) return { path, dist };
  return {
    why: override
      ? `ELECTRON_OVERRIDE_DIST_PATH is set but ${path} does not exist`
      : `no Electron ${readVersion(pkgDir)} binary at ${path}`,
  };
}

/**
 * The command that installs the binary: Electron's own installer, run by this node, with error causes
 * in its report (see error-causes.cjs). Undefined without the electron package.
 * @returns {[string, string[]] | undefined}
 */
export function electronInstaller() {
  const pkgDir = electronPackageDir();
  return pkgDir ? [process.execPath, ['--require', ERROR_CAUSES, join(pkgDir, 'install.js')]] : undefined;
}

/** The installer's time limit: `timeoutMs` if given, else the environment's, else INSTALL_TIMEOUT_MS. */
export function installTimeoutMs(timeoutMs) {
  if (timeoutMs !== undefined) return timeoutMs;
  const fromEnv = Number(process.env[INSTALL_TIMEOUT_ENV]);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : INSTALL_TIMEOUT_MS;
}

/**
 * The binary, installing it first when there is none.
 * @param {{ timeoutMs?: number, installer?: [string, string[]], find?: typeof findElectron,
 *   log?: (line: string) => void, stderr?: { write(chunk: Buffer | string): unknown } }} [options]
 *   `installer` and `find` are replaced by tests; `log` and `stderr` receive what the user should see.
 * @returns {Promise<{ path: string, dist: string } | { why: string }>}
 */
export async function ensureElectron(options = {}) {
  const find = options.find ?? findElectron;
  const found = find();
  if ('path' in found) return found;
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) return found; // the user chose a binary: do not fetch another
  if (process.env.ELECTRON_SKIP_BINARY_DOWNLOAD) return { why: `${found.why}, and ELECTRON_SKIP_BINARY_DOWNLOAD is set` };
  const installer = options.installer ?? electronInstaller();
  if (!installer) return found;
  const timeoutMs = installTimeoutMs(options.timeoutMs);
  const log = options.log ?? ((line) => console.log(line));
  log(`${found.why}: running Electron's installer (at most ${Math.ceil(timeoutMs / 1000)} s)…`);
  const failure = await runInstaller(installer, timeoutMs, options.stderr ?? process.stderr);
  const after = find();
  if ('path' in after) return after;
  return { why: failure ?? `Electron's installer finished, but there is still ${after.why}` };
}

/** Runs the installer with its output shown; resolves to why it failed, or undefined when it exited 0. */
function runInstaller([cmd, args], timeoutMs, stderr) {
  return new Promise((resolve) => {
    let errText = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'], timeout: timeoutMs, windowsHide: true });
    child.stderr.on('data', (chunk) => {
      errText += chunk;
      stderr.write(chunk);
    });
    child.on('error', (err) => resolve(`Electron's installer could not be started (${err.message})`));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(undefined);
      // spawn's `timeout` is the only thing here that kills the installer.
      else if (child.killed) resolve(`Electron's installer did not finish within ${Math.ceil(timeoutMs / 1000)} s`);
      else {
        const cause = lastMeaningfulLine(errText);
        const status = signal ? `was ended by ${signal}` : `exited with code ${code}`;
        resolve(cause ? `Electron's installer failed: ${cause}` : `Electron's installer ${status}`);
      }
    });
  });
}

/** The installer's error, from its stderr: the last line that is neither blank nor a stack frame. */
export function lastMeaningfulLine(text) {
  const lines = String(text)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^at\s/.test(line));
  return lines.at(-1)?.replace(/\.$/, '');
}

function readVersion(pkgDir) {
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return '';
  }
}
