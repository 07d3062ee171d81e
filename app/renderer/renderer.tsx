/**
 * The example app's window, in React on leasehold's hooks (`leasehold/react`): each part of the page reads
 * only the paths it shows (`useShared`), this instance's role (`useRole`), and sends the user's actions as
 * mutations and dispatched actions (`useDispatch`, `useLeasehold`). No Node, no Electron: this runs
 * sandboxed, and in real Chromium in the tests. esbuild bundles it with React (scripts/bundle-renderer.js).
 */
import { StrictMode, useEffect, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { connectLeasehold, type TimelineEntry } from '../../src/electron/renderer-api.js';
import { useDispatch, useLeasehold, useRole, useShared } from '../../src/react/index.js';
import type { AppAction, AppState, Todo } from '../state.js';

// Also makes it window.leasehold; failures reject with an Error carrying `code`.
connectLeasehold<AppState, AppAction>();

const time = (at: number) => new Date(at).toLocaleTimeString();
const describe = (err: unknown) => {
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
};

/** Runs an action; its failure shows in the footer, its success clears it. */
function useAct(): [string, (p: Promise<unknown>) => void] {
  const [error, setError] = useState('');
  return [error, (p) => void p.then(() => setError(''), (err) => setError(describe(err)))];
}

function Header({ act }: { act: (p: Promise<unknown>) => void }) {
  const api = useLeasehold<AppState, AppAction>();
  const s = useRole();
  const role = s?.role ?? 'starting';
  const label = role === 'owner' ? `Owner · epoch ${s!.epoch}` : role === 'follower' ? `Follower · epoch ${s!.epoch}` : `${role}…`;
  const owner = s?.owner && role !== 'owner' ? ` · owner: ${s.owner.name || s.owner.instanceId} (pid ${s.owner.pid})` : '';
  return (
    <header>
      <div id="role" className="role" data-role={role}>
        {label}
      </div>
      <div id="whoami" className="muted">
        {s ? `${s.name} · pid ${s.pid}${owner}` : ''}
      </div>
      <nav>
        <button id="new-window" type="button" onClick={() => act(api.command('new-window'))}>
          New window
        </button>
        <button id="launch" type="button" onClick={() => act(api.command('launch-instance'))}>
          Launch another instance
        </button>
        <button id="quit" type="button" onClick={() => act(api.command('quit'))}>
          Quit this instance
        </button>
      </nav>
    </header>
  );
}

function Todos({ act }: { act: (p: Promise<unknown>) => void }) {
  const api = useLeasehold<AppState, AppAction>();
  const dispatch = useDispatch<AppAction>();
  const todos = useShared<Todo[]>('todos') ?? [];
  const [text, setText] = useState('');
  const add = (ev: FormEvent) => {
    ev.preventDefault();
    const t = text.trim();
    if (!t) return;
    setText('');
    act(dispatch({ type: 'todo/add', payload: t }));
  };
  return (
    <section>
      <h2>Shared notes</h2>
      <form id="add-form" onSubmit={add}>
        <input
          id="todo-text"
          placeholder="Add a todo, shared by every instance"
          maxLength={500}
          autoComplete="off"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit">Add</button>
      </form>
      <ul id="todos">
        {todos.map((t, i) => (
          <li key={i} className={t.done ? 'done' : ''}>
            <input type="checkbox" checked={t.done} onChange={() => act(dispatch({ type: 'todo/toggle', payload: i }))} />
            <span>{t.text}</span>
            <button title="Delete" onClick={() => act(api.removeAt('todos', i))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <button id="clear-done" type="button" onClick={() => act(dispatch({ type: 'todo/clear-done' }))}>
        Clear done
      </button>
    </section>
  );
}

function Counter({ act }: { act: (p: Promise<unknown>) => void }) {
  const api = useLeasehold<AppState, AppAction>();
  const counter = useShared<number>('counter') ?? 0;
  return (
    <div className="counter">
      <span id="counter">{counter}</span>
      <button id="increment" type="button" onClick={() => act(api.increment('counter'))}>
        +1
      </button>
    </div>
  );
}

/** A request to whichever instance owns (its `example/owner` handler, app/main.ts), from this one. */
function AskOwner({ act }: { act: (p: Promise<unknown>) => void }) {
  const api = useLeasehold<AppState, AppAction>();
  const [answer, setAnswer] = useState('');
  const ask = () =>
    act(
      api.command('ask-owner').then((reply) => {
        const r = reply as { name: string; pid: number; windows: number };
        setAnswer(`${r.name} (pid ${r.pid}) answered: ${r.windows} window${r.windows === 1 ? '' : 's'} open there`);
      }),
    );
  return (
    <p>
      <button id="ask-owner" type="button" onClick={ask}>
        Ask the owner
      </button>{' '}
      <span id="owner-answer" className="muted">
        {answer}
      </span>
    </p>
  );
}

function Instances() {
  const s = useRole();
  return (
    <ul id="instances">
      {(s?.instances ?? []).map((i) => (
        <li key={i.instanceId} data-role={i.role}>
          {`${i.name || i.instanceId} · pid ${i.pid} · ${i.role}${i.instanceId === s!.instanceId ? ' (this window)' : ''}`}
        </li>
      ))}
    </ul>
  );
}

function Timeline() {
  const api = useLeasehold<AppState, AppAction>();
  const [entries, setEntries] = useState<TimelineEntry[]>([]);
  useEffect(() => {
    const key = (e: TimelineEntry) => `${e.at}|${e.epoch}|${e.what}`;
    const stop = api.onEvent((e) => {
      if (e.type === 'timeline') setEntries((all) => [e.entry, ...all]);
    });
    // What happened before this window opened (oldest first), below what arrived meanwhile.
    void api.timeline().then(
      (past) =>
        setEntries((all) => {
          const seen = new Set(all.map(key));
          return [...all, ...[...past].reverse().filter((p) => !seen.has(key(p)))];
        }),
      () => undefined,
    );
    return stop;
  }, [api]);
  return (
    <ol id="timeline" reversed>
      {entries.map((e, i) => (
        <li key={entries.length - i}>{`${time(e.at)} — ${e.what}`}</li>
      ))}
    </ol>
  );
}

function App() {
  const [error, act] = useAct();
  return (
    <>
      <Header act={act} />
      <main>
        <Todos act={act} />
        <section>
          <h2>Counter</h2>
          <Counter act={act} />
          <AskOwner act={act} />
          <h2>Instances</h2>
          <Instances />
        </section>
        <section>
          <h2>Ownership timeline</h2>
          <Timeline />
        </section>
      </main>
      <footer id="error" role="alert">
        {error}
      </footer>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
