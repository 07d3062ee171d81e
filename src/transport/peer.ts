/**
 * One follower's connection as the owner's server and its handler see it: what it said in its hello, and
 * sends that never throw (a socket that is no longer open drops them: the follower resyncs).
 */
import { ws as wsLib } from '../cjs.js';
import type { InstanceInfo } from './protocol.js';
import type { ToFollowerFrame } from './codec/fields.js';
import { encode, type ToFollower } from './codec/to-follower.js';

const { WebSocket: WS } = wsLib;

export interface Peer {
  readonly info: InstanceInfo;
  send(message: ToFollower): void;
  /** Sends an already-encoded frame (one encoding shared by many peers). */
  sendRaw(data: ToFollowerFrame): void;
  /** Sends `message`; resolves once it is written to the socket (at once when the socket is not open). */
  sendFlushed(message: ToFollower): Promise<void>;
  /** Bytes queued for this peer and not yet written (slow-consumer detection). */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

/** What a peer uses of its ws WebSocket (declared here so that no public declaration names ws's types). */
export interface PeerSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string, cb?: (err?: Error) => void): void;
  close(code: number, reason: string): void;
  ping(): void;
  terminate(): void;
}

export class PeerImpl implements Peer {
  info: InstanceInfo = { instanceId: '?', name: '', pid: 0, role: 'follower', since: 0, appVersion: '' };
  joined = false;
  alive = true;
  constructor(readonly ws: PeerSocket) {}
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
  send(message: ToFollower): void {
    this.sendRaw(encode(message));
  }
  sendRaw(data: ToFollowerFrame): void {
    if (this.ws.readyState === WS.OPEN) this.ws.send(data);
  }
  sendFlushed(message: ToFollower): Promise<void> {
    const data = encode(message);
    return new Promise<void>((resolve) =>
      this.joined && this.ws.readyState === WS.OPEN ? this.ws.send(data, () => resolve()) : resolve(),
    );
  }
  close(code: number, reason: string): void {
    if (this.ws.readyState === WS.OPEN || this.ws.readyState === WS.CONNECTING) this.ws.close(code, reason);
  }
}
