/**
 * RendererBridge: one instance, served to renderers. The logic of `leasehold/electron` without Electron:
 * validates every request like network input, answers it from the instance, and turns the instance's
 * events into renderer events (status on every role/owner/presence change, the state coalesced, a
 * timeline of ownership changes).
 *
 * Guarantees: a request that is not one of the documented shapes, or a mutation that `validateMutation`
 * refuses, is answered `{ok: false, error: {code: 'EPROTOCOL'}}` and reaches nothing; errors cross as
 * `{code, message}` only (no stacks, paths or causes); a listener that throws is dropped, not propagated.
 * Not guaranteed: delivery of every intermediate state (state events are coalesced; versions only rise).
 */
import type { Clock, Timer } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Instance, InstanceEvent } from '../coordinator.js';
import { LeaseholdError } from '../errors.js';
import { validateMutation, type Json } from '../state/document.js';
import type { BridgeEvent, BridgeReply, BridgeRequest, InstanceView, TimelineEntry } from './renderer-api.js';

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
    case 'command':
      only('op', 'name');
      if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 64) throw protocolError('a command name is a short string');
      return { op: 'command', name: r.name };
    default:
      throw protocolError(`unknown request op ${JSON.stringify(r.op)?.slice(0, 40)}`);
  }
}

export class RendererBridge {
  /** Any instance: its state is sent as the JSON it is, whatever `State` the app names it by. */
  readonly instance: Instance<unknown>;
  readonly #commands: Readonly<Record<string, () => unknown>>;
  readonly #clock: Clock;
  readonly #coalesceMs: number;
  readonly #timelineMax: number;
  readonly #timeline: TimelineEntry[] = [];
  readonly #listeners = new Set<(e: BridgeEvent) => void>();
  readonly #stops: (() => void)[] = [];
  #stateTimer: Timer | undefined;

  constructor(instance: Instance<unknown>, options: RendererBridgeOptions = {}) {
    this.instance = instance;
    this.#commands = options.commands ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#coalesceMs = options.coalesceMs ?? 16;
    this.#timelineMax = options.timelineMax ?? 200;
    this.#stops.push(instance.subscribe((e) => this.#onInstanceEvent(e)));
    this.#stops.push(instance.state.subscribe(() => this.#scheduleState()));
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

  /** Answers one request from a renderer (never throws; errors are in the reply). */
  async handle(raw: unknown): Promise<BridgeReply> {
    try {
      return { ok: true, value: await this.#answer(validateRequest(raw)) };
    } catch (err) {
      const e = err instanceof LeaseholdError ? err : new LeaseholdError('EIO', String((err as Error)?.message ?? err));
      return { ok: false, error: { code: e.code, message: e.message.slice(0, 1000) } };
    }
  }

  async #answer(req: BridgeRequest): Promise<unknown> {
    switch (req.op) {
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

  /** Sends every event to `send` (starting with the current status and state); returns a stop function. */
  subscribe(send: (event: BridgeEvent) => void): () => void {
    this.#listeners.add(send);
    this.#emitTo(send, { type: 'status', status: this.status() });
    this.#emitTo(send, { type: 'state', version: this.instance.state.version, state: this.instance.state.get() as Json });
    return () => this.#listeners.delete(send);
  }

  close(): void {
    for (const stop of this.#stops.splice(0)) stop();
    this.#stateTimer?.cancel();
    this.#listeners.clear();
  }

  #emitTo(send: (e: BridgeEvent) => void, event: BridgeEvent): void {
    try {
      send(event);
    } catch {
      this.#listeners.delete(send); // a destroyed window, typically
    }
  }

  #emit(event: BridgeEvent): void {
    for (const l of [...this.#listeners]) this.#emitTo(l, event);
  }

  #scheduleState(): void {
    if (this.#stateTimer) return;
    this.#stateTimer = this.#clock.setTimeout(() => {
      this.#stateTimer = undefined;
      this.#emit({ type: 'state', version: this.instance.state.version, state: this.instance.state.get() as Json });
    }, this.#coalesceMs);
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
