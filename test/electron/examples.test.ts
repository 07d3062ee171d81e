/**
 * The documented Electron example compiles as a user would build it: `leasehold` resolved through
 * package.json `exports` (a node_modules link to this checkout's out/), the main process against
 * electron's and Node's types, the page with DOM types only. A control proves the page's check can fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tempRoot } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = joinPath(ROOT, 'docs', 'examples', 'electron');

const common: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: false,
};
const DOM_ONLY: ts.CompilerOptions = { ...common, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: [] };
const MAIN: ts.CompilerOptions = { ...common, lib: ['lib.es2022.d.ts'], types: ['node'], skipLibCheck: true };

function diagnostics(files: string[], options: ts.CompilerOptions): string[] {
  return compile(files, options).errors;
}

/** The errors, and the Node or Electron declaration files the program pulled in (a page should pull none). */
function compile(files: string[], options: ts.CompilerOptions): { errors: string[]; nodeOrElectron: string[] } {
  const program = ts.createProgram(files, options);
  const errors = ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? `${d.file.fileName}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  const nodeOrElectron = program
    .getSourceFiles()
    .map((f) => f.fileName)
    .filter((f) => /[\\/]node_modules[\\/](@types[\\/]node|electron)[\\/]/.test(f));
  return { errors, nodeOrElectron };
}

describe('the documented Electron example', () => {
  let dir = '';
  let remove = async () => undefined as void;
  before(async () => {
    ({ dir, remove } = await tempRoot('leasehold-example-'));
    writeFileSync(joinPath(dir, 'package.json'), JSON.stringify({ name: 'notes', type: 'module' }));
    mkdirSync(joinPath(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, joinPath(dir, 'node_modules', 'leasehold'), 'dir');
    symlinkSync(joinPath(ROOT, 'node_modules', 'electron'), joinPath(dir, 'node_modules', 'electron'), 'dir');
    symlinkSync(joinPath(ROOT, 'node_modules', '@types', 'node'), joinPath(dir, 'node_modules', '@types', 'node'), 'dir');
    // React, for leasehold/react (an optional peer dependency: an app that uses it installs it).
    symlinkSync(joinPath(ROOT, 'node_modules', 'react'), joinPath(dir, 'node_modules', 'react'), 'dir');
    symlinkSync(joinPath(ROOT, 'node_modules', '@types', 'react'), joinPath(dir, 'node_modules', '@types', 'react'), 'dir');
    for (const f of ['main.ts', 'renderer.ts']) copyFileSync(joinPath(EXAMPLES, f), joinPath(dir, f));
  });
  after(() => remove());

  it('main.ts compiles against electron’s types', () => {
    assert.deepEqual(diagnostics([joinPath(dir, 'main.ts')], { ...MAIN, typeRoots: [joinPath(dir, 'node_modules', '@types')] }), []);
  });

  it('renderer.ts compiles with DOM types only, through leasehold/electron/renderer, pulling in no Node or Electron types', () => {
    const { errors, nodeOrElectron } = compile([joinPath(dir, 'renderer.ts')], DOM_ONLY);
    assert.deepEqual(errors, []);
    assert.deepEqual(nodeOrElectron, []);
  });

  it('the state is typed: get(), watch and reducers see the app’s State, not Json', () => {
    const file = joinPath(dir, 'typed.ts');
    writeFileSync(
      file,
      `import { connectLeasehold } from 'leasehold/electron/renderer';
interface S { notes?: string[] }
const api = connectLeasehold<S>();
export async function f(): Promise<string[]> {
  const { state } = await api.get();
  api.watch('', (s) => { const n: string[] | undefined = s.notes; void n; });
  api.watch('notes.0', (t) => { const n: string | undefined = t; void n; });
  void api.push('notes', 'milk');
  // @ts-expect-error: S has no such path
  api.watch('count', () => undefined);
  // @ts-expect-error: notes holds strings
  void api.push('notes', 1);
  // @ts-expect-error: S has no such field
  void state.missing;
  return state.notes ?? [];
}
`,
    );
    assert.deepEqual(diagnostics([file], DOM_ONLY), []);
  });

  it('a React page compiles with DOM types only through leasehold/react, its hooks typed', () => {
    const file = joinPath(dir, 'hooks.ts');
    writeFileSync(
      file,
      `import { createElement as h } from 'react';
import { useDispatch, useRole, useShared, useSharedState } from 'leasehold/react';
interface S { notes?: string[] }
export function Notes() {
  const notes = useShared<string[]>('notes');
  const count = useSharedState((s: S) => s.notes?.length ?? 0);
  const me = useRole();
  const dispatch = useDispatch();
  const n: number | undefined = count;
  // @ts-expect-error: the value may not have arrived yet
  const sure: string[] = notes;
  void sure;
  return h('ul', { onClick: () => void dispatch({ type: 'note/add', payload: 'x' }) }, me?.role, n, (notes ?? []).map((t) => h('li', { key: t }, t)));
}
`,
    );
    const { errors, nodeOrElectron } = compile([file], DOM_ONLY);
    assert.deepEqual(errors, []);
    assert.deepEqual(nodeOrElectron, []);
  });

  it('control: a page that imports the main entry pulls in Node’s and Electron’s types', () => {
    const file = joinPath(dir, 'wrong.ts');
    writeFileSync(file, `import { createAppCoordinator } from 'leasehold/electron';\nexport const f = createAppCoordinator;\n`);
    const { nodeOrElectron } = compile([file], DOM_ONLY);
    assert.ok(
      nodeOrElectron.some((f) => f.includes('@types')) && nodeOrElectron.some((f) => f.endsWith('electron.d.ts')),
      nodeOrElectron.join('\n'),
    );
  });
});
