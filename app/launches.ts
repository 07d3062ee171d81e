/**
 * The example app's second launches and its one request, without Electron (app/main.ts wires them to
 * windows; the tests run them between real instances):
 *  - a launch with `--add-todo=TEXT` is forwarded to the running app (`secondLaunch`), whose owner adds the
 *    todo, brings a window forward and answers `{status: 0, value: {added}}`; any other launch stays;
 *  - `example/owner` answers who owns and how many windows it has open, to a request from any instance.
 */
import type { Instance, Json, LaunchHandler } from '../src/index.js';
import type { AppAction, AppState } from './state.js';

export const ADD_TODO = '--add-todo=';
export const OWNER_REQUEST = 'example/owner';

/** The todo a launch brings (`--add-todo=TEXT`), if any. */
export function launchedTodo(argv: readonly string[]): string | undefined {
  return argv.find((a) => a.startsWith(ADD_TODO))?.slice(ADD_TODO.length);
}

/** Forwarded to the running app: a launch that brings a todo. Any other stays, an instance of its own. */
export function secondLaunch(argv: readonly string[]): 'stay' | 'forward' {
  return launchedTodo(argv) !== undefined ? 'forward' : 'stay';
}

/**
 * The owner's answer to a forwarded launch: add its todo, then `show` (bring a window forward); status 0,
 * or 1 with the reason when the todo is refused (the reducer refuses an empty one), 2 without one.
 */
export function answerLaunches(instance: Promise<Instance<AppState, AppAction>>, show: () => void): LaunchHandler {
  return async (launch) => {
    const text = (launch.payload as { addTodo?: unknown } | undefined)?.addTodo;
    if (typeof text !== 'string') return { status: 2, value: `usage: ${ADD_TODO}TEXT` };
    try {
      await (await instance).state.dispatch({ type: 'todo/add', payload: text });
    } catch (err) {
      return { status: 1, value: (err as Error).message };
    }
    show();
    return { status: 0, value: { added: text } };
  };
}

/** `example/owner`'s handler: which instance answered, and how many windows it has open. */
export function ownerInfo(instance: Instance<AppState, AppAction>, windows: () => number): () => Json {
  return () => ({ name: instance.name, pid: process.pid, windows: windows() });
}
