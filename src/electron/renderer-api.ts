/**
 * What a renderer sees as `window.leasehold` (exposed by the preload through contextBridge), and the
 * messages behind it. Types only, plus the channel names and the request validation: no electron import,
 * so the main glue, the preload, the example app and the tests share one definition.
 *
 *   renderer → main   ipcRenderer.invoke('leasehold:request', BridgeRequest) → {ok: true, value} | {ok: false, error: {code, message}}
 *   main → renderer   webContents.send('leasehold:event', BridgeEvent)
 */
import type { InstanceInfo } from '../transport/protocol.js';
import type { Json, Mutation } from '../state/document.js';

export const REQUEST_CHANNEL = 'leasehold:request';
export const EVENT_CHANNEL = 'leasehold:event';

/** This instance as a window shows it. */
export interface InstanceView {
  /** `failed`: the shared state's journal is damaged; see the timeline for the file and the way out. */
  role: 'starting' | 'owner' | 'follower' | 'failed' | 'closed';
  epoch: number;
  instanceId: string;
  name: string;
  pid: number;
  connected: boolean;
  owner: { instanceId: string; name: string; pid: number } | null;
  /** Everyone connected to the owner, the owner first. */
  instances: InstanceInfo[];
  version: number;
}

export interface TimelineEntry {
  /** Wall-clock ms, for display. */
  at: number;
  epoch: number;
  what: string;
}

export type BridgeEvent =
  | { type: 'status'; status: InstanceView }
  /** The state after one or more changes (coalesced: at most one per `coalesceMs`). */
  | { type: 'state'; version: number; state: Json }
  | { type: 'timeline'; entry: TimelineEntry };

export type BridgeRequest =
  | { op: 'status' }
  | { op: 'get' }
  | { op: 'timeline' }
  | { op: 'mutate'; mutation: Mutation }
  /** An app command the host registered (for the example app: new-window, launch-instance, quit). */
  | { op: 'command'; name: string };

export type BridgeReply = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

/** `window.leasehold`. Every method returns a promise; failures reject with an Error carrying `code`. */
export interface LeaseholdRendererApi {
  status(): Promise<InstanceView>;
  get(): Promise<{ version: number; state: Json }>;
  timeline(): Promise<TimelineEntry[]>;
  set(path: string, value: Json): Promise<number>;
  delete(path: string): Promise<number>;
  increment(path: string, by?: number): Promise<number>;
  push(path: string, value: Json): Promise<number>;
  removeAt(path: string, index: number): Promise<number>;
  batch(ops: Mutation[]): Promise<number>;
  dispatch(action: { type: string; payload?: Json }): Promise<number>;
  command(name: string): Promise<unknown>;
  /** Calls `listener` with every event; returns a function that stops it. */
  onEvent(listener: (event: BridgeEvent) => void): () => void;
}
