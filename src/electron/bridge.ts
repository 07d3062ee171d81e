/**
 * RendererBridge: one instance, served to renderers. The logic of `leasehold/electron` without Electron:
 * validates every request like network input, answers it from the instance, and turns the instance's
 * events into renderer events (status on every role/owner/presence change, a timeline of ownership
 * changes, and the values of the paths each window watches).
 *
 * Each window is a {@link BridgeConnection} (`connect(send)`). A window receives the shared state only for
 * the paths it watches (`{op: 'watch', paths}`, answered with their current values): after a change, at
 * most once per `coalesceMs`, one `values` event with the watched paths whose value changed (compared by
 * identity: documents share unchanged subtrees), so a window showing one counter is not sent a large state
 * it does not show. Watching `''` is watching the whole state.
 *
 * Guarantees: a request that is not one of the documented shapes, or a mutation that `validateMutation`
 * refuses, is answered `{ok: false, error: {code: 'EPROTOCOL'}}` and reaches nothing; errors cross as
 * `{code, message}` only (no stacks, paths or causes); a listener that throws is dropped, not propagated.
 * Not guaranteed: delivery of every intermediate value (coalesced; versions only rise).
 */
import type { Clock, Timer } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Instance, InstanceEvent } from '../instance/instance.js';
import { asLeaseholdError, LeaseholdError } from '../errors.js';
import { parsePath, validateMutation, type Json } from '../state/document.js';
import type { BridgeEvent, BridgeReply, BridgeRequest, InstanceView, TimelineEntry, WatchReply } from './renderer-api.js';

export interface RendererBridgeOptions {
  /** App commands renderers may run by name (e.g. 'new-window'). @default none */
  commands?: Readonly<Record<string, () => unknown>>;
  /** State events are coalesced to at most one per this many ms. @default 16 */
  coalesceMs?: number;
  /** Timeline entries kept. @default 200 */
  timelineMax?: number;
  clock?: Clock;
}

const protocolError = (message: string) => new LeaseholdError('EPROTOCOL', message);

/** The most paths one window may watch at once. */
export const MAX_WATCHED_PATHS = 256;

/** Checks a renderer's request; throws EPROTOCOL naming what is wrong. */
export function validateRequest(raw: unknown, maxValueBytes?: number): BridgeRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw protocolError('a request is an object');
  const r = raw as Record<string, unknown>;
  const only = (...fields: string[]) => {
    for (const k of Object.keys(r)) if (!fields.includes(k)) throw protocolError(`unexpected field "${k}" in ${String(r.op)}`);
  };
  switch (r.op) {
    case 'status':
    case 'get':
    case 'timeline':
      only('op');
      return { op: r.op };
    case 'mutate':
      only('op', 'mutation');
      return { op: 'mutate', mutation: validateMutation(r.mutation, maxValueBytes) };
    case 'watch':
      only('op', 'paths');
      if (!Array.isArray(r.paths) || r.paths.length > MAX_WATCHED_PATHS)
        throw protocolError(`watch takes an array of at most ${MAX_WATCHED_PATHS} paths`);
      for (const p of r.paths) parsePath(p as string);
      return { op: 'watch', paths: [...new Set(r.paths as string[])] };
    case 'command':
      only('op', 'name');
      if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 64) throw protocolError('a command name is a short string');
      return { op: 'command', name: r.name };
    default:
      throw protocolError(`unknown request op ${JSON.stringify(r.op)?.slice(0, 40)}`);
  }
}

/** One window's end of the bridge. */
export interface BridgeConnection {
  /** Answers one request of this window (never throws; errors are in the reply). */
  handle(raw: unknown): Promise<BridgeReply>;
  /** No more events to this window. */
  close(): void;
}

interface Connection extends BridgeConnection {
  send: (event: BridgeEvent) => void;
  /** Watched path → the value last sent for it. */
  watched: Map<string, Json | undefined>;
}

/** Any app's instance: the bridge serves untyped JSON, whatever `State` the app declared. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyState = any;

export class RendererBridge {
  /** Any instance: its state is sent as the JSON it is, whatever `State` the app names it by. */
  readonly instance: Instance<AnyState, AnyState>;
  readonly #commands: Readonly<Record<string, () => unknown>>;
  readonly #clock: Clock;
  readonly #coalesceMs: number;
  readonly #timelineMax: number;
  readonly #timeline: TimelineEntry[] = [];
  readonly #connections = new Set<Connection>();
  readonly #stops: (() => void)[] = [];
  #valuesTimer: Timer | undefined;

  constructor(instance: Instance<AnyState, AnyState>, options: RendererBridgeOptions = {}) {
    this.instance = instance;
    this.#commands = options.commands ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#coalesceMs = options.coalesceMs ?? 16;
    this.#timelineMax = options.timelineMax ?? 200;
    this.#stops.push(instance.subscribe((e) => this.#onInstanceEvent(e)));
    this.#stops.push(instance.state.subscribe(() => this.#scheduleValues()));
  }

  status(): InstanceView {
    const i = this.instance;
    const holder = i.holder;
    return {
      role: i.role,
      epoch: i.epoch,
      instanceId: i.instanceId,
      name: i.name,
      pid: process.pid,
      connected: i.connected,
      owner: holder ? { instanceId: holder.instanceId, name: holder.name, pid: holder.pid } : null,
      instances: i.instances.map((x) => ({ ...x })),
      version: i.state.version,
    };
  }

  timeline(): TimelineEntry[] {
    return this.#timeline.map((e) => ({ ...e }));
  }

  /**
   * Answers one request from a renderer (never throws; errors are in the reply). `watch` needs the window's
   * connection: use {@link BridgeConnection.handle}.
   */
  handle(raw: unknown): Promise<BridgeReply> {
    return this.#handle(raw, undefined);
  }

  async #handle(raw: unknown, from: Connection | undefined): Promise<BridgeReply> {
    try {
      return { ok: true, value: await this.#answer(validateRequest(raw), from) };
    } catch (err) {
      const e = asLeaseholdError(err);
      return { ok: false, error: { code: e.code, message: e.message.slice(0, 1000) } };
    }
  }

  async #answer(req: BridgeRequest, from: Connection | undefined): Promise<unknown> {
    switch (req.op) {
      case 'watch': {
        if (!from || !this.#connections.has(from)) throw protocolError('watch needs a connected window');
        const version = this.instance.state.version;
        const values: Record<string, Json | undefined> = {};
        from.watched = new Map(req.paths.map((p) => [p, this.instance.state.at(p)]));
        for (const [p, v] of from.watched) values[p] = v;
        return { version, values } satisfies WatchReply;
      }
      case 'status':
        return this.status();
      case 'get':
        return { version: this.instance.state.version, state: this.instance.state.get() as Json };
      case 'timeline':
        return this.timeline();
      case 'mutate':
        return this.instance.state.mutate(req.mutation);
      case 'command': {
        const run = Object.prototype.hasOwnProperty.call(this.#commands, req.name) ? this.#commands[req.name] : undefined;
        if (!run) throw protocolError(`no command "${req.name}" is registered`);
        const value = await run();
        return value === undefined ? null : value;
      }
    }
  }

  /**
   * A window: every status and timeline event goes to `send` (the current status first), and the values of
   * the paths it watches; `handle` answers its requests. `close()` (or a `send` that throws) ends it.
   */
  connect(send: (event: BridgeEvent) => void): BridgeConnection {
    const c: Connection = {
      send,
      watched: new Map(),
      handle: (raw) => this.#handle(raw, c),
      close: () => void this.#connections.delete(c),
    };
    this.#connections.add(c);
    this.#emitTo(c, { type: 'status', status: this.status() });
    return { handle: c.handle, close: c.close };
  }

  close(): void {
    for (const stop of this.#stops.splice(0)) stop();
    this.#valuesTimer?.cancel();
    this.#connections.clear();
  }

  #emitTo(c: Connection, event: BridgeEvent): void {
    try {
      c.send(event);
    } catch {
      this.#connections.delete(c); // a destroyed window, typically
    }
  }

  #emit(event: BridgeEvent): void {
    for (const c of [...this.#connections]) this.#emitTo(c, event);
  }

  #scheduleValues(): void {
    if (this.#valuesTimer) return;
    this.#valuesTimer = this.#clock.setTimeout(() => {
      this.#valuesTimer = undefined;
      this.#sendValues();
    }, this.#coalesceMs);
  }

  /** To each window, the watched paths whose value is no longer the one it was last sent. */
  #sendValues(): void {
    const version = this.instance.state.version;
    // at(): O(depth × log width) a path, and the same object while that part of the state is unchanged.
    const current = new Map<string, Json | undefined>();
    const read = (path: string) => {
      if (!current.has(path)) current.set(path, this.instance.state.at(path));
      return current.get(path);
    };
    for (const c of [...this.#connections]) {
      let values: Record<string, Json | undefined> | undefined;
      for (const [path, sent] of c.watched) {
        const now = read(path);
        if (now === sent) continue;
        c.watched.set(path, now);
        (values ??= {})[path] = now;
      }
      if (values) this.#emitTo(c, { type: 'values', version, values });
    }
  }

  #note(epoch: number, what: string): void {
    const entry = { at: this.#clock.wallNow(), epoch, what };
    this.#timeline.push(entry);
    if (this.#timeline.length > this.#timelineMax) this.#timeline.splice(0, this.#timeline.length - this.#timelineMax);
    this.#emit({ type: 'timeline', entry });
  }

  #onInstanceEvent(e: InstanceEvent): void {
    switch (e.type) {
      case 'role-change':
        this.#note(
          e.epoch,
          e.role === 'failed'
            ? `this instance stopped: ${e.error.message}`
            : e.role === 'owner'
              ? `this instance became the owner (epoch ${e.epoch})`
              : `this instance follows (epoch ${e.epoch})`,
        );
        break;
      case 'owner-change':
        this.#note(e.epoch, `owner is now ${e.holder.name || e.holder.instanceId} (pid ${e.holder.pid}, epoch ${e.epoch})`);
        break;
      case 'lost':
        this.#note(e.epoch, `lost the lease (${e.reason})`);
        break;
      case 'other-host':
        this.#note(e.epoch, `the owner runs on another computer (${e.holder.host}): waiting for it to leave`);
        break;
      case 'disconnected':
        this.#note(e.epoch, `disconnected from the owner (${e.why})`);
        break;
      case 'closed':
        this.#note(this.instance.epoch, 'this instance closed');
        break;
      case 'connected':
      case 'presence':
      case 'error':
        break;
    }
    if (e.type !== 'error') this.#emit({ type: 'status', status: this.status() });
  }
}
