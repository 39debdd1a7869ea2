import type { FrameTransport } from './frame-transport.js';

/*
 * Encode once, frame once, write many: a message fanned out to a thousand sockets is
 * turned into one complete WebSocket frame (header and UTF-8 payload in one Buffer), and
 * that same Buffer is written to each socket's TCP stream. `ws` would measure, encode and
 * frame the text again for every socket, and write it as two chunks.
 */

/** The parts of a `ws` WebSocket this writes around (ws 8: lib/websocket.js, lib/sender.js). */
interface WsInternals {
  _socket?: { write(chunk: Buffer): boolean };
  _extensions?: Record<string, unknown>;
  _sender?: { _state?: number; _queue?: unknown[]; _firstFragment?: boolean };
}

/**
 * The TCP socket to write a prepared frame to, when that is the same as `ws.send(text)`:
 * a `ws` socket with no extension negotiated (the gateway turns permessage-deflate off;
 * with it, a frame written past the compressor could overtake a compressed one still
 * queued, so such sockets go through `ws`), and a sender with nothing queued and no
 * fragmented message open, so the bytes land after everything sent before. Undefined
 * otherwise (an HTTP stream, or anything unexpected): the caller sends the text.
 */
export function frameSocket(transport: FrameTransport): { write(chunk: Buffer): boolean } | undefined {
  const ws = transport as unknown as WsInternals;
  const sender = ws._sender;
  const socket = ws._socket;
  if (!sender || !socket || !ws._extensions) return undefined;
  for (const _ in ws._extensions) return undefined;
  // Any of these missing (another ws version) also means: let ws send it.
  if (sender._state !== 0 || sender._queue?.length !== 0 || sender._firstFragment !== true) return undefined;
  return socket;
}

/** One text message as a server-to-client WebSocket frame: FIN, opcode 1, unmasked (RFC 6455 5.2). */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = 0x81;
  if (head === 2) {
    frame[1] = length;
  } else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, head, 'utf8');
  return frame;
}

/**
 * The last few frames prepared, by their text: the sockets of a fan-out (and of the
 * messages it overlaps with) ask for the same few. The in-process bus hands every socket
 * the same string, so the comparison is a pointer check; strings from the Redis bus are
 * equal copies, compared by content.
 */
const CACHED = 8;
const texts: (string | undefined)[] = new Array(CACHED);
const frames: (Buffer | undefined)[] = new Array(CACHED);
let next = 0;

export function sharedFrame(text: string): Buffer {
  for (let i = 0; i < CACHED; i++) if (texts[i] === text) return frames[i]!;
  const frame = textFrame(text);
  texts[next] = text;
  frames[next] = frame;
  next = (next + 1) % CACHED;
  return frame;
}
