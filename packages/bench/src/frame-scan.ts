import type { Dialect } from './wire.js';

/*
 * Reads the few fields the pairs load generator needs straight from a received frame's
 * bytes, without decoding it to a string or parsing it: a full JSON.parse of every frame
 * cost the generator more than the bare relay spends per message. It relies on what
 * JSON.stringify produces, which is what every server here sends: no whitespace, `type`
 * the first key. A `"key":` pattern cannot match inside a string value (a quote there is
 * escaped), so a key found is a key. Anything else returns UNKNOWN, and the caller parses
 * that frame the slow way.
 */

export const UNKNOWN = -1;
export const OTHER = 0;
export const NEW_MESSAGE = 1;
export const ACK_SENT = 2;
export const STATUS_UPDATE = 3;
export const SYNC_COMPLETE = 4;
export const ERROR = 5;

const TYPES: [number, Buffer][] = [
  [NEW_MESSAGE, Buffer.from('new_message')],
  [ACK_SENT, Buffer.from('ack_sent')],
  [STATUS_UPDATE, Buffer.from('status_update')],
  [SYNC_COMPLETE, Buffer.from('sync_complete')],
  [ERROR, Buffer.from('error')],
];

export class FrameScanner {
  /** The first byte of the dialect's quote (`"`, or `\` of `\"`): where a string value ends. */
  private readonly qEnd: number;
  private readonly typePrefix: Buffer;
  private readonly keys = new Map<string, Buffer>();
  /** Set by int() and str(): the index just past what they read. */
  end = 0;

  constructor(readonly dialect: Dialect) {
    this.qEnd = dialect.q.charCodeAt(0);
    this.typePrefix = Buffer.from(`{${dialect.q}type${dialect.q}:${dialect.q}`);
  }

  /** The pattern that precedes key's value: `"key":` (a string value's opening quote follows it). */
  key(name: string): Buffer {
    let k = this.keys.get(name);
    if (!k) this.keys.set(name, (k = Buffer.from(`${this.dialect.q}${name}${this.dialect.q}:`)));
    return k;
  }

  /** The frame's type (one of the constants), OTHER for a type the generator ignores, UNKNOWN for another shape. */
  type(buf: Buffer, start: number): number {
    const p = this.typePrefix;
    const n = p.length;
    if (buf.length < start + n) return UNKNOWN;
    for (let i = 0; i < n; i++) if (buf[start + i] !== p[i]) return UNKNOWN;
    const from = start + n;
    let to = from;
    const len = buf.length;
    while (to < len && buf[to] !== this.qEnd) to++;
    if (to === len) return UNKNOWN;
    for (const [code, name] of TYPES) {
      if (name.length !== to - from) continue;
      let i = 0;
      while (i < name.length && buf[from + i] === name[i]) i++;
      if (i === name.length) return code;
    }
    return OTHER;
  }

  /** The non-negative integer after `key` (a Buffer from key()), or -1 when absent or not a number. */
  int(buf: Buffer, key: Buffer, from: number): number {
    const at = buf.indexOf(key, from);
    if (at < 0) return -1;
    return this.digits(buf, at + key.length);
  }

  /** The non-negative integer at buf[i], or -1; end = the index after it. */
  digits(buf: Buffer, i: number): number {
    let v = 0;
    const first = i;
    for (let c = buf[i]; c !== undefined && c >= 0x30 && c <= 0x39; c = buf[++i]) v = v * 10 + (c - 0x30);
    this.end = i;
    return i === first ? -1 : v;
  }

  /** Where the string value of `key` starts (after its quote), or -1; end = the index of its closing quote. */
  str(buf: Buffer, key: Buffer, from: number): number {
    const at = buf.indexOf(key, from);
    if (at < 0) return -1;
    if (buf[at + key.length] !== this.qEnd) return -1; // null, a number: not a string
    const s = at + key.length + this.dialect.q.length;
    let i = s;
    const len = buf.length;
    while (i < len && buf[i] !== this.qEnd) i++;
    if (i === len) return -1;
    this.end = i;
    return s;
  }

  /** The frame parsed the slow way (JSON.parse), for what the scanner does not read; throws on bad JSON. */
  parse(buf: Buffer, start: number): Record<string, unknown> {
    if (this.dialect.pre === '') return JSON.parse(buf.toString('utf8', start)) as Record<string, unknown>;
    // Socket.IO: 42["f",{frame}]
    const ev = JSON.parse(buf.toString('utf8', start - this.dialect.pre.length + 2)) as unknown[];
    return ev[1] as Record<string, unknown>;
  }
}
