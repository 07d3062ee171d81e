/**
 * The example app's window: renders leasehold's state (connectLeasehold() over the bridge the preload
 * exposes) and sends the user's actions as mutations and dispatched actions. No Node, no Electron: this runs sandboxed, and in real
 * Chromium in the tests.
 */
import {
  connectLeasehold,
  type BridgeEvent,
  type InstanceView,
  type LeaseholdRendererApi,
  type TimelineEntry,
} from '../../src/electron/renderer-api.js';
import type { AppState } from '../state.js';

declare global {
  interface Window {
    leasehold: LeaseholdRendererApi<AppState>;
  }
}

// Also makes it window.leasehold; failures reject with an Error carrying `code`.
const api = connectLeasehold<AppState>();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = (tag: string, text?: string) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
};
const time = (at: number) => new Date(at).toLocaleTimeString();

function showError(err: unknown): void {
  const e = err as { code?: string; message?: string };
  $('error').textContent = e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}
const act = (p: Promise<unknown>) =>
  p.then(
    () => ($('error').textContent = ''),
    (err) => showError(err),
  );

function renderStatus(s: InstanceView): void {
  const role = $('role');
  role.dataset.role = s.role;
  role.textContent = s.role === 'owner' ? `Owner · epoch ${s.epoch}` : s.role === 'follower' ? `Follower · epoch ${s.epoch}` : s.role;
  $('whoami').textContent =
    `${s.name} · pid ${s.pid}${s.owner && s.role !== 'owner' ? ` · owner: ${s.owner.name || s.owner.instanceId} (pid ${s.owner.pid})` : ''}`;
  const list = $('instances');
  list.replaceChildren(
    ...s.instances.map((i) => {
      const li = el('li', `${i.name || i.instanceId} · pid ${i.pid} · ${i.role}${i.instanceId === s.instanceId ? ' (this window)' : ''}`);
      li.dataset.role = i.role;
      return li;
    }),
  );
}

function renderState(version: number, state: AppState): void {
  $('version').textContent = String(version);
  $('counter').textContent = String(state.counter ?? 0);
  const todos = state.todos ?? [];
  $('todos').replaceChildren(
    ...todos.map((t, i) => {
      const li = el('li');
      li.className = t.done ? 'done' : '';
      const box = el('input') as HTMLInputElement;
      box.type = 'checkbox';
      box.checked = t.done;
      box.addEventListener('change', () => act(api.dispatch({ type: 'todo/toggle', payload: i })));
      const del = el('button', '×');
      del.title = 'Delete';
      del.addEventListener('click', () => act(api.removeAt('todos', i)));
      li.append(box, el('span', t.text), del);
      return li;
    }),
  );
}

function addTimeline(entry: TimelineEntry): void {
  $('timeline').prepend(el('li', `${time(entry.at)} — ${entry.what}`));
}

api.onEvent((e: BridgeEvent) => {
  if (e.type === 'status') renderStatus(e.status);
  else if (e.type === 'timeline') addTimeline(e.entry);
});
// The whole state: this window shows all of it (a window showing less would watch only its paths).
api.watch('', (state, version) => renderState(version, state ?? {}));

$('add-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('todo-text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  act(api.dispatch({ type: 'todo/add', payload: text }));
});
$('increment').addEventListener('click', () => act(api.increment('counter')));
$('clear-done').addEventListener('click', () => act(api.dispatch({ type: 'todo/clear-done' })));
$('new-window').addEventListener('click', () => act(api.command('new-window')));
$('launch').addEventListener('click', () => act(api.command('launch-instance')));
$('quit').addEventListener('click', () => act(api.command('quit')));

void Promise.all([api.status(), api.timeline()]).then(([s, t]) => {
  renderStatus(s);
  for (const e of t) addTimeline(e);
}, showError);
