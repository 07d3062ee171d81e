// How `npm start` and the Electron end-to-end tests launch the example app: as the packaged app runs.
//
// Electron names an app after the package.json of the folder it is launched with (`productName`, else
// `name`), and puts its userData under that name. Launched with a file (`electron out/app/main.js`) it finds
// no package.json, so the app is named "Electron" and shares ~/.config/Electron with every other unnamed
// app. The packaged app gets the root package.json (main: out/app/main.js, via electron-builder.yml's
// extraMetadata), so its name is the root's productName. A development launch therefore gets a folder,
// out/app, with a package.json made from the root's: the same name, productName and version.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The folder a development launch passes to Electron, relative to the repository root. */
export const DEV_APP_DIR = join('out', 'app');

/** The package.json of the development launch folder, from the root's. */
export function devAppManifest(rootManifest) {
  const { name, productName, version, type } = rootManifest;
  return { name, productName, version, type, private: true, main: 'main.js' };
}

/**
 * Writes out/app/package.json (after `npm run build`, which makes out/app/main.js) and returns the
 * arguments that launch the app with Electron, followed by `extra`.
 */
export function prepareDevApp(root, extra = []) {
  const manifest = devAppManifest(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')));
  const dir = join(root, DEV_APP_DIR);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return [dir, ...extra];
}
