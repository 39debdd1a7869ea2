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
 *
 * `batch` (Switchboard only: the relays speak one frame per message): the socket is opened
 * with ?batch=1 as the SDK opens it (PROTOCOL.md "Batching"). The frames sent in one
 * callback then leave as one JSON array (raw-ws.ts), and a message that is an array is
 * split into its frames (splitArray), each handed over alone, as a view of its own bytes.
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

/** `url` with batch=1 added to its query (a Switchboard socket that takes and sends arrays of frames). */
export function withBatch(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}batch=1`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Calls `each(start, end)` for every element of the JSON array buf[s..e) (buf[s] is its `[`),
 * in order, without parsing it: brackets and braces are counted outside strings, and a
 * string is skipped to its closing quote (one not escaped by an odd run of backslashes), so
 * content holding `},{`, brackets or escaped quotes does not cut a frame. Answers how many
 * elements it found; it stops at the array's `]`, or at the end of malformed text.
 */
export function splitArray(buf: Buffer, s: number, e: number, each: (start: number, end: number) => void): number {
  let n = 0;
  let depth = 0;
  let start = -1;
  let i = s + 1;
  while (i < e) {
    const c = buf[i]!;
    if (c === QUOTE) {
      let q = i;
      for (;;) {
        q = buf.indexOf(QUOTE, q + 1);
        if (q < 0 || q >= e) return n;
        let b = q - 1;
        while (buf[b] === BACKSLASH) b--;
        if ((q - 1 - b) % 2 === 0) break; // not escaped
      }
      i = q + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth++ === 0) start = i;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth === 0) return n; // the array's own ]
      if (--depth === 0) {
        n++;
        each(start, i + 1);
      }
    }
    i++;
  }
  return n;
}

export class Wire {
  readonly dialect: Dialect;
  private readonly ws: RawWs;
  /** Socket.IO: OPEN once the server acknowledged the namespace connection (`40`). */
  private sioOpen = false;

  /** `batch`: open the socket with ?batch=1 and speak arrays (plain `ws` transport only; see above). */
  constructor(transport: Transport, url: string, on: WireEvents, localAddress?: string, batch = false) {
    this.dialect = dialectOf(transport);
    const events = {
      open: () => {},
      error: (err: Error) => on.error(err),
      close: (code: number) => {
        this.sioOpen = false;
        on.close(code);
      },
    };
    if (transport === 'ws' && batch) {
      // The message being split, for `each` (made once: no closure per message).
      let cur: Buffer = Buffer.alloc(0);
      const each = (fs: number, fe: number) => on.frame(cur.subarray(fs, fe), 0);
      const message = (buf: Buffer, s: number, e: number) => {
        if (buf[s] !== 0x5b /* [ */) return on.frame(buf.subarray(s, e), 0);
        cur = buf;
        splitArray(buf, s, e, each);
      };
      this.ws = new RawWs(withBatch(url), { ...events, message }, localAddress, true);
    } else if (transport === 'ws') {
      this.ws = new RawWs(url, { ...events, message: (buf, s, e) => on.frame(buf.subarray(s, e), 0) }, localAddress);
    } else {
      if (batch) throw new Error('wire: ?batch=1 is for Switchboard over the plain ws transport only');
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
