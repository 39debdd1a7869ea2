import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { MAX_BATCH_FRAMES } from '@switchboard/protocol';

/*
 * A minimal WebSocket client (RFC 6455) for the pairs load generator's hot path, and only
 * for it. Why not `ws`: the generator must cost far less than the server it measures, and
 * `ws`'s client costs several µs per frame on top of the system call (a Buffer per send,
 * a random mask applied byte by byte in JS, a cork and a writev of header + payload through
 * the stream layers; on receipt the Readable stream, the Receiver's Writable and a Buffer
 * per message). Profiled, that was most of the generator's user time, and one writev per
 * frame was most of its kernel time (issue 23). Here:
 *
 * - a frame is a latin1 string: a header from a table and the (ASCII) text as it is. The
 *   masking key is zero, so masking (XOR) leaves the payload unchanged. RFC 6455 wants an
 *   unpredictable key, against cache poisoning of proxies that a browser could be tricked
 *   into; the generator talks straight to a server it owns, which unmasks any key alike.
 * - every frame sent to one socket while a callback runs (a scheduler tick, one read) goes
 *   out in one write at the end of it (a microtask), whatever frames the caller sends; on a
 *   socket opened with `batch` (a Switchboard socket with ?batch=1, PROTOCOL.md "Batching")
 *   those texts also go as one WebSocket message, a JSON array `[a,b]` (a lone one as itself,
 *   at most MAX_BATCH_FRAMES to an array), as the SDK sends a turn's frames;
 * - reads land in one buffer shared by every socket of the thread (net's `onread`, no
 *   stream, no Buffer per read); each complete message is handed over as a view into it,
 *   valid only during the call. Only a frame cut across two reads is copied.
 *
 * Server frames are never masked; fragmented messages are reassembled; pings are answered;
 * a close frame is answered and ends the socket. No extensions (no permessage-deflate) and
 * no UTF-8 validation, as the generator asks for neither.
 */

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

export interface RawWsEvents {
  open(): void;
  /** A text or binary message: buf[start..end) (a view valid only during the call). */
  message(buf: Buffer, start: number, end: number): void;
  error(err: Error): void;
  /** The close code the server sent, or 1006 when the connection ended without one. */
  close(code: number): void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Header of an unfragmented masked frame (zero key) of the given opcode and payload length. */
function header(opcode: number, len: number): string {
  const b0 = String.fromCharCode(0x80 | opcode);
  if (len < 126) return b0 + String.fromCharCode(0x80 | len) + '\0\0\0\0';
  if (len < 65536) return b0 + String.fromCharCode(0x80 | 126, len >> 8, len & 0xff) + '\0\0\0\0';
  const hi = Math.floor(len / 2 ** 32);
  const lo = len >>> 0;
  return (
    b0 +
    String.fromCharCode(0x80 | 127, 0, 0, (hi >> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff) +
    '\0\0\0\0'
  );
}

const textHeaders: string[] = [];
/** A text frame (FIN, opcode 1, zero mask) carrying `text`, which must be ASCII (one byte per character). */
export function textFrame(text: string): string {
  const n = text.length;
  if (n < 4096) return (textHeaders[n] ??= header(1, n)) + text;
  return header(1, n) + text;
}

/**
 * System calls of this thread's sockets: writes (each may carry several frames) and reads;
 * and the WebSocket data messages sent and received (a batch socket's array counts once).
 */
export const ioCounts = { writes: 0, reads: 0, messagesOut: 0, messagesIn: 0 };

// Sockets with frames waiting, written out together at the end of the current callback.
const pending: RawWs[] = [];
let flushQueued = false;
function flushPending(): void {
  flushQueued = false;
  for (let i = 0; i < pending.length; i++) pending[i]!.flush();
  pending.length = 0;
}

/** The buffer every socket of this thread reads into (reads run one at a time). */
let shared: Buffer | null = null;

export class RawWs {
  readyState = CONNECTING;
  private readonly sock: net.Socket;
  private out = '';
  private queued = false;
  /** `batch`: the texts sent in this callback, joined with commas, and how many (endBatch makes them one message). */
  private batchText = '';
  private batchCount = 0;
  /** Bytes of an incomplete frame (or of the handshake response) kept from the last read. */
  private rest: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private closeCode = 1006;
  private readonly accept: string;

  /**
   * `batch`: the texts sent to this socket in one callback go as one WebSocket message, a
   * JSON array of them (the server must accept arrays: Switchboard's ?batch=1); the caller
   * opens the URL it needs.
   */
  constructor(
    url: string,
    private readonly on: RawWsEvents,
    localAddress?: string,
    private readonly batch = false,
  ) {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new Error(`raw-ws: only ws:// URLs (${url})`);
    const key = randomBytes(16).toString('base64');
    this.accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    shared ??= Buffer.allocUnsafe(256 * 1024);
    this.sock = net.connect({
      host: u.hostname,
      port: Number(u.port || 80),
      localAddress,
      noDelay: true,
      onread: {
        buffer: shared,
        callback: (n: number) => {
          // Always our shared buffer; true: keep reading.
          ioCounts.reads++;
          this.onRead(shared!, n);
          return true;
        },
      },
    });
    this.sock.on('connect', () => {
      this.sock.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        'latin1',
      );
    });
    this.sock.on('error', (err) => this.on.error(err));
    this.sock.on('close', () => {
      const was = this.readyState;
      this.readyState = CLOSED;
      if (was !== CONNECTING || this.closeCode !== 1006) this.on.close(this.closeCode);
    });
  }

  /**
   * Queues a text message (ASCII); it goes out with the socket's other frames at the end of
   * this callback. With `batch`, `text` is one JSON frame, and the callback's frames go as one
   * array (MAX_BATCH_FRAMES at most: a 101st starts the next message).
   */
  send(text: string): void {
    if (this.readyState !== OPEN) return;
    if (!this.batch) {
      ioCounts.messagesOut++;
      this.queue(textFrame(text));
      return;
    }
    this.batchText = this.batchCount === 0 ? text : this.batchText + ',' + text;
    if (++this.batchCount === MAX_BATCH_FRAMES) this.endBatch();
    this.schedule();
  }

  /** `batch`: the frames sent so far in this callback become one message (an array, or a lone frame as itself). */
  private endBatch(): void {
    if (this.batchCount === 0) return;
    const text = this.batchCount === 1 ? this.batchText : '[' + this.batchText + ']';
    this.batchText = '';
    this.batchCount = 0;
    ioCounts.messagesOut++;
    this.out += textFrame(text);
  }

  private queue(frame: string): void {
    // A control frame (pong, close) goes after the data frames sent before it.
    this.endBatch();
    this.out += frame;
    this.schedule();
  }

  /** Writes this socket's frames at the end of the current callback (flushPending). */
  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    pending.push(this);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushPending);
    }
  }

  /** Writes what is queued (the microtask does this; callable earlier). */
  flush(): void {
    this.queued = false;
    this.endBatch();
    if (this.out.length === 0) return;
    const s = this.out;
    this.out = '';
    if (this.sock.destroyed) return;
    ioCounts.writes++;
    this.sock.write(s, 'latin1');
  }

  close(code = 1000): void {
    if (this.readyState === CONNECTING) return this.terminate();
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    this.queue(header(8, 2) + String.fromCharCode(code >> 8, code & 0xff));
    this.flush();
    // The server answers with its close frame and ends the TCP connection; do not wait forever.
    setTimeout(() => this.sock.destroy(), 2000).unref();
  }

  terminate(): void {
    this.readyState = CLOSING;
    this.sock.destroy();
  }

  private fail(message: string): void {
    this.on.error(new Error(`raw-ws: ${message}`));
    this.terminate();
  }

  private onRead(buf: Buffer, n: number): void {
    let data = buf;
    let end = n;
    if (this.rest) {
      data = Buffer.concat([this.rest, buf.subarray(0, n)]);
      end = data.length;
      this.rest = null;
    }
    let p = 0;
    if (this.readyState === CONNECTING) {
      const h = data.indexOf('\r\n\r\n');
      if (h < 0 || h >= end) {
        this.rest = Buffer.from(data.subarray(0, end));
        return;
      }
      const head = data.toString('latin1', 0, h);
      if (!/^HTTP\/1\.1 101 /.test(head)) return this.fail(`upgrade refused: ${head.split('\r\n')[0]}`);
      const acc = /\r\nsec-websocket-accept: *([^\r]*)/i.exec(head);
      if (!acc || acc[1]!.trim() !== this.accept) return this.fail('bad Sec-WebSocket-Accept');
      this.readyState = OPEN;
      this.on.open();
      p = h + 4;
    }
    while (end - p >= 2) {
      const b0 = data[p]!;
      const b1 = data[p + 1]!;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (end - p < 4) break;
        len = (data[p + 2]! << 8) | data[p + 3]!;
        hdr = 4;
      } else if (len === 127) {
        if (end - p < 10) break;
        len = data.readUInt32BE(p + 2) * 2 ** 32 + data.readUInt32BE(p + 6);
        hdr = 10;
      }
      if (b1 & 0x80) return this.fail('masked frame from the server');
      const s = p + hdr;
      const e = s + len;
      if (e > end) break;
      p = e;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 1 || opcode === 2) {
        if (fin) ioCounts.messagesIn++;
        if (fin) this.on.message(data, s, e);
        else this.fragments = [Buffer.from(data.subarray(s, e))];
      } else if (opcode === 0) {
        if (!this.fragments) return this.fail('continuation without a first fragment');
        this.fragments.push(Buffer.from(data.subarray(s, e)));
        if (fin) {
          ioCounts.messagesIn++;
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.on.message(whole, 0, whole.length);
        }
      } else if (opcode === 8) {
        this.closeCode = len >= 2 ? (data[s]! << 8) | data[s + 1]! : 1005;
        if (this.readyState === OPEN) {
          // Echo the close (its code, or none when it had none: 1005 is never sent).
          this.readyState = CLOSING;
          this.queue(len >= 2 ? header(8, 2) + data.toString('latin1', s, s + 2) : header(8, 0));
          this.flush();
        }
        this.sock.end();
        return;
      } else if (opcode === 9) {
        this.queue(header(10, len) + data.toString('latin1', s, e));
      }
      // 10 (pong): nothing to do.
      if (this.readyState !== OPEN && this.readyState !== CLOSING) return;
    }
    if (p < end) this.rest = Buffer.from(data.subarray(p, end));
  }
}
