import { CONNECTING, OPEN, RawWs } from './raw-ws.js';

/*
 * The load generator's connection: a minimal WebSocket client (raw-ws.ts), speaking either plain Switchboard
 * frames (Switchboard, the bare `ws` relay) or the same frames inside Socket.IO events (its
 * reference relay), so every system in `compare` is driven by the same generator.
 *
 * Lean on purpose (the generator must cost far less than the server it measures): no
 * permessage-deflate, no UTF-8 validation of received frames, frames sent to a socket in
 * one callback go out in one write, and for Socket.IO no
 * client library: the Engine.IO v4 / Socket.IO v5 wire format is a one-character packet
 * type, so an event `f` carrying a frame (as an object, as Socket.IO apps emit them) is
 * `42["f",{...}]` and the
 * server's ping `2` is answered with `3` here. Received frames reach the owner as a Buffer
 * (a view into the thread's read buffer, valid only during the call) plus the offset where
 * the frame's text starts; it reads the few fields it needs from the bytes (frame-scan.ts)
 * in the wire's dialect. Sent text must be ASCII.
 */

export type Transport = 'ws' | 'socket.io';

/** How frame text appears on a wire: wrapped in pre/post, with every JSON quote written as q. */
export interface Dialect {
  readonly pre: string;
  readonly post: string;
  readonly q: string;
}

const PLAIN: Dialect = { pre: '', post: '', q: '"' };
const SOCKET_IO: Dialect = { pre: '42["f",', post: ']', q: '"' };

export const dialectOf = (t: Transport): Dialect => (t === 'ws' ? PLAIN : SOCKET_IO);

/** `text` (JSON with no backslashes in it) as it is written inside the dialect's frames. */
export function inDialect(d: Dialect, text: string): string {
  return d.q === '"' ? text : text.replaceAll('"', d.q);
}

export { OPEN };

export interface WireEvents {
  /** A frame: its text starts at buf[start] and runs to the end of buf, less dialect.post. Valid only during the call. */
  frame(buf: Buffer, start: number): void;
  error(err: Error): void;
  close(code: number): void;
}

export class Wire {
  readonly dialect: Dialect;
  private readonly ws: RawWs;
  /** Socket.IO: OPEN once the server acknowledged the namespace connection (`40`). */
  private sioOpen = false;

  constructor(transport: Transport, url: string, on: WireEvents, localAddress?: string) {
    this.dialect = dialectOf(transport);
    const events = {
      open: () => {},
      error: (err: Error) => on.error(err),
      close: (code: number) => {
        this.sioOpen = false;
        on.close(code);
      },
    };
    if (transport === 'ws') {
      this.ws = new RawWs(url, { ...events, message: (buf, s, e) => on.frame(buf.subarray(s, e), 0) }, localAddress);
    } else {
      const u = new URL(url);
      const q = new URLSearchParams(u.searchParams);
      q.set('EIO', '4');
      q.set('transport', 'websocket');
      const message = (buf: Buffer, s: number, e: number) => {
        const b0 = buf[s];
        if (b0 === 0x34 /* 4 message */) {
          const b1 = buf[s + 1];
          // 42["f",{...}]: an event; its frame starts after the 7-byte prefix.
          if (b1 === 0x32) on.frame(buf.subarray(s, e), 7);
          else if (b1 === 0x30 /* 40 connected */) this.sioOpen = true;
          else if (b1 === 0x31 || b1 === 0x34 /* 41 disconnect, 44 connect error */) this.ws.close(1000);
        } else if (b0 === 0x32 /* 2 ping */) this.ws.send('3');
        else if (b0 === 0x30 /* 0 open: join the main namespace */) this.ws.send('40');
      };
      this.ws = new RawWs(`${u.protocol}//${u.host}/socket.io/?${q}`, { ...events, message }, localAddress);
    }
  }

  get readyState(): number {
    const s = this.ws.readyState;
    if (this.dialect === SOCKET_IO && s === OPEN && !this.sioOpen) return CONNECTING;
    return s;
  }

  /** Text already in the wire's dialect (built by the owner from templates), ASCII; written with this callback's other frames. */
  send(text: string): void {
    this.ws.send(text);
  }

  close(code = 1000): void {
    this.ws.close(code);
  }

  terminate(): void {
    this.ws.terminate();
  }
}
