import WebSocket from 'ws';

/*
 * The load generator's connection: a raw `ws` client, speaking either plain Switchboard
 * frames (Switchboard, the bare `ws` relay) or the same frames inside Socket.IO events (its
 * reference relay), so every system in `compare` is driven by the same generator.
 *
 * Lean on purpose (the generator must cost far less than the server it measures): no
 * permessage-deflate, no UTF-8 validation of received frames, and for Socket.IO no
 * client library: the Engine.IO v4 / Socket.IO v5 wire format is a one-character packet
 * type, so an event `f` carrying frame text is `42["f","<frame, JSON-escaped>"]` and the
 * server's ping `2` is answered with `3` here. Received frames reach the owner as the
 * Buffer ws produced plus the offset where the frame's text starts; it reads the few
 * fields it needs from the bytes (frame-scan.ts) in the wire's dialect.
 */

export type Transport = 'ws' | 'socket.io';

/** How frame text appears on a wire: wrapped in pre/post, with every JSON quote written as q. */
export interface Dialect {
  readonly pre: string;
  readonly post: string;
  readonly q: string;
}

const PLAIN: Dialect = { pre: '', post: '', q: '"' };
const SOCKET_IO: Dialect = { pre: '42["f","', post: '"]', q: '\\"' };

export const dialectOf = (t: Transport): Dialect => (t === 'ws' ? PLAIN : SOCKET_IO);

/** `text` (JSON with no backslashes in it) as it is written inside the dialect's frames. */
export function inDialect(d: Dialect, text: string): string {
  return d.q === '"' ? text : text.replaceAll('"', d.q);
}

export const OPEN = WebSocket.OPEN;

export interface WireEvents {
  /** A frame: its text starts at buf[start] and runs to the end of buf, less dialect.post. */
  frame(buf: Buffer, start: number): void;
  error(err: Error): void;
  close(code: number): void;
}

export class Wire {
  readonly dialect: Dialect;
  private readonly ws: WebSocket;
  /** Socket.IO: OPEN once the server acknowledged the namespace connection (`40`). */
  private sioOpen = false;

  constructor(transport: Transport, url: string, on: WireEvents, localAddress?: string) {
    const opts = { perMessageDeflate: false, skipUTF8Validation: true, localAddress };
    this.dialect = dialectOf(transport);
    if (transport === 'ws') {
      this.ws = new WebSocket(url, opts);
      this.ws.on('message', (buf: Buffer) => on.frame(buf, 0));
    } else {
      const u = new URL(url);
      const q = new URLSearchParams(u.searchParams);
      q.set('EIO', '4');
      q.set('transport', 'websocket');
      this.ws = new WebSocket(`${u.protocol}//${u.host}/socket.io/?${q}`, opts);
      this.ws.on('message', (buf: Buffer) => {
        const b0 = buf[0];
        if (b0 === 0x34 /* 4 message */) {
          const b1 = buf[1];
          // 42["f","...: an event; its frame text starts after the 8-byte prefix.
          if (b1 === 0x32) on.frame(buf, 8);
          else if (b1 === 0x30 /* 40 connected */) this.sioOpen = true;
          else if (b1 === 0x31 || b1 === 0x34 /* 41 disconnect, 44 connect error */) this.ws.close(1000);
        } else if (b0 === 0x32 /* 2 ping */) this.ws.send('3');
        else if (b0 === 0x30 /* 0 open: join the main namespace */) this.ws.send('40');
      });
    }
    this.ws.on('error', (err) => on.error(err));
    this.ws.on('close', (code) => {
      this.sioOpen = false;
      on.close(code);
    });
  }

  get readyState(): number {
    const s = this.ws.readyState;
    if (this.dialect === SOCKET_IO && s === OPEN && !this.sioOpen) return WebSocket.CONNECTING;
    return s;
  }

  /** Text already in the wire's dialect (built by the owner from templates). */
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
