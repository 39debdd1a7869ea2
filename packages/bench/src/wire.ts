import WebSocket from 'ws';
import { io } from 'socket.io-client';

/*
 * The load generator's connection, over a plain WebSocket (Switchboard, the bare `ws`
 * relay) or Socket.IO (its reference relay): the same frames either way, so every system
 * in `compare` is driven by the same generator.
 */

export type Transport = 'ws' | 'socket.io';

export interface Wire {
  readonly readyState: number;
  send(text: string): void;
  close(code?: number): void;
  terminate(): void;
  on(event: 'message', cb: (data: { toString(): string }) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  on(event: 'close', cb: (code: number) => void): void;
}

export const OPEN = WebSocket.OPEN;

export function openWire(transport: Transport, url: string, localAddress?: string): Wire {
  if (transport === 'ws') return new WebSocket(url, { perMessageDeflate: false, localAddress }) as unknown as Wire;
  return new SocketIoWire(url);
}

/** A Socket.IO client seen as a Wire: frames travel as the `f` event (see relays/socketio-relay.ts). */
class SocketIoWire implements Wire {
  private readonly socket;
  private state: number = WebSocket.CONNECTING;
  private readonly handlers: Record<string, ((arg: never) => void)[]> = {};

  constructor(url: string) {
    const u = new URL(url);
    this.socket = io(`${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}`, {
      transports: ['websocket'],
      query: Object.fromEntries(u.searchParams),
      reconnection: false,
      forceNew: true,
    });
    this.socket.on('connect', () => (this.state = WebSocket.OPEN));
    this.socket.on('f', (text: string) => this.fire('message', { toString: () => text }));
    this.socket.on('connect_error', (err: Error) => this.fire('error', err));
    this.socket.on('disconnect', () => {
      this.state = WebSocket.CLOSED;
      this.fire('close', 1006);
    });
  }

  get readyState(): number {
    return this.state;
  }

  send(text: string): void {
    this.socket.emit('f', text);
  }

  close(): void {
    this.state = WebSocket.CLOSED;
    this.socket.disconnect();
  }

  terminate(): void {
    this.close();
  }

  on(event: string, cb: (arg: never) => void): void {
    (this.handlers[event] ??= []).push(cb);
  }

  private fire(event: string, arg: unknown): void {
    for (const cb of this.handlers[event] ?? []) cb(arg as never);
  }
}
