/**
 * The example app's second launch and request (app/launches.ts) between real instances: a launch that
 * brings a todo reaches the owner, which adds it and answers; a window's question reaches the owner.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, type Instance } from '../../src/instance/instance.js';
import { forwardLaunch, handleLaunches } from '../../src/requests/launch.js';
import { answerLaunches, launchedTodo, OWNER_REQUEST, ownerInfo, secondLaunch } from '../../app/launches.js';
import { reducers } from '../../app/reducers.js';
import type { AppAction, AppState } from '../../app/state.js';
import { tempRoot } from '../helpers.js';
import { killAll, spawnNode, type Proc } from '../integration/proc.js';
import { fileURLToPath } from 'node:url';

/** The example's main process without Electron: it forwards a launch that brings a todo, or owns. */
const APP = fileURLToPath(new URL('./fixtures/launch-app.js', import.meta.url));

describe('the example app’s launches and request', () => {
  it('reads a todo from argv; only a launch that brings one is forwarded', () => {
    assert.equal(launchedTodo(['electron', '.', '--add-todo=buy milk']), 'buy milk');
    assert.equal(launchedTodo(['electron', '.']), undefined);
    assert.equal(secondLaunch(['electron', '.', '--add-todo=']), 'forward');
    assert.equal(secondLaunch(['electron', '.', '--inspect']), 'stay');
  });

  it('a forwarded launch adds its todo on the owner and brings a window forward; any instance can ask the owner', async () => {
    const root = await tempRoot();
    const all: Instance<AppState, AppAction>[] = [];
    const start = (name: string) => {
      const i = join<AppState, AppAction>({ dataRoot: root.dir, ttlMs: 2000, reducers, name });
      all.push(i);
      let shown = 0;
      // As app/main.ts registers them on every instance.
      handleLaunches(i, answerLaunches(Promise.resolve(i), () => void shown++));
      i.handle(OWNER_REQUEST, ownerInfo(i, () => 3));
      return { i, shown: () => shown };
    };
    try {
      const a = start('first launch');
      await a.i.whenOwner();
      const b = start('second launch');
      const argv = ['electron', '.', '--add-todo=call the plumber'];
      const answer = await forwardLaunch(b.i, { argv, cwd: '/', payload: { addTodo: launchedTodo(argv)! } });
      assert.deepEqual(answer, { forwarded: true, status: 0, value: { added: 'call the plumber' } });
      assert.deepEqual(a.i.state.get().todos, [{ text: 'call the plumber', done: false }]);
      assert.equal(a.shown(), 1, 'the owner brought a window forward');
      assert.equal(b.shown(), 0);
      const refused = await forwardLaunch(b.i, { argv, cwd: '/', payload: { addTodo: '  ' } });
      assert.equal(refused.forwarded && refused.status, 1, 'an empty todo: exit status 1 with the reason');
      assert.deepEqual(await b.i.request(OWNER_REQUEST), { name: 'first launch', pid: process.pid, windows: 3 });
      // The first launch owns: its own launch is not forwarded.
      assert.deepEqual(await forwardLaunch(a.i, { argv, cwd: '/' }), { forwarded: false });
    } finally {
      await Promise.all(all.map((i) => i.close()));
      await root.remove();
    }
  });

  it('over real processes: a second launch with --add-todo reaches the running app and exits with its status', async () => {
    const root = await tempRoot();
    const procs: Proc[] = [];
    const launch = (...args: string[]) => {
      const p = spawnNode(APP, [root.dir, ...args]);
      procs.push(p);
      return p;
    };
    try {
      const first = launch('--add-todo=buy milk'); // nothing runs yet: it owns and adds its own todo
      await first.waitFor((l) => l.event === 'ready' && l.role === 'owner');
      const second = launch('--add-todo=call the plumber');
      const forwarded = await second.waitFor((l) => l.event === 'forwarded');
      assert.deepEqual(forwarded.value, { added: 'call the plumber' });
      assert.equal(await second.exited, 0, 'the second launch exits with the owner’s status');
      const todos = await first.waitFor((l) => l.event === 'todos' && (l.todos as unknown[]).length === 2);
      assert.deepEqual(
        (todos.todos as { text: string }[]).map((t) => t.text),
        ['buy milk', 'call the plumber'],
      );
      await first.waitFor((l) => l.event === 'shown');
      const empty = launch('--add-todo= ');
      assert.equal(await empty.exited, 1, 'an empty todo: the owner refuses it, and the launch exits 1');
      const plain = launch(); // brings nothing: stays, as another instance
      await plain.waitFor((l) => l.event === 'ready' && l.role === 'follower');
    } finally {
      await killAll(procs);
      await root.remove();
    }
  });
});
