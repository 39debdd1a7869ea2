/*
 * What the reference relays do with a frame, shared by the bare `ws` relay and the
 * Socket.IO relay so they differ only in transport. They speak just enough of the
 * Switchboard protocol for the pairs load generator: a `send_message` is answered with
 * `ack_sent` at once and forwarded to the chat's other user as `new_message`; nothing
 * is stored, so a relay's figures are what "no durability at all" costs. Acks and
 * reads are read and dropped. Relays exist for `npm run bench -- compare` only.
 * Each relay encodes as its kind of app would: the ws relay JSON text per WebSocket
 * message, the Socket.IO relay objects as event arguments (Socket.IO encodes them).
 */

export interface RelayOut {
  /** The answer to the sender's socket. */
  reply?: string;
  /** The frame for the partner's sockets, and who the partner is. */
  forward?: { userId: string; text: string };
}

/** relayMessage's answer: frames as objects. */
export interface RelayObjects {
  reply?: object;
  forward?: { userId: string; frame: object };
}

/** Per sending socket: its own seq (the generator drops a frame whose seq does not grow, per receiver; each receiver hears one sender). */
export interface RelaySender {
  userId: string;
  seq: number;
}

let nextId = 0;

/** A frame of JSON text (the ws relay): parsed, relayed, the answers as JSON text. */
export function relayFrame(from: RelaySender, text: string): RelayOut {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    return { reply: JSON.stringify({ type: 'error', code: 'invalid_frame', message: 'not JSON' }) };
  }
  const out = relayMessage(from, f);
  return {
    reply: out.reply && JSON.stringify(out.reply),
    forward: out.forward && { userId: out.forward.userId, text: JSON.stringify(out.forward.frame) },
  };
}

/** A frame already decoded (the Socket.IO relay gets event arguments as objects). */
export function relayMessage(from: RelaySender, frame: unknown): RelayObjects {
  if (!frame || typeof frame !== 'object') return { reply: { type: 'error', code: 'invalid_frame', message: 'not an object' } };
  const f = frame as { type?: unknown; chat_id?: unknown; client_msg_id?: unknown; content?: unknown };
  if (f.type === 'ping') return { reply: { type: 'pong' } };
  if (f.type !== 'send_message' || typeof f.chat_id !== 'string') return {};
  // dm:A:B, user ids without colons.
  const [, a, b] = f.chat_id.split(':');
  const partner = a === from.userId ? b : a;
  const seq = ++from.seq;
  const messageId = `r${++nextId}`;
  const createdAt = Date.now();
  const reply = {
    type: 'ack_sent',
    client_msg_id: f.client_msg_id,
    message_id: messageId,
    chat_id: f.chat_id,
    seq,
    created_at: createdAt,
  };
  if (!partner) return { reply };
  const forward = {
    type: 'new_message',
    message_id: messageId,
    chat_id: f.chat_id,
    seq,
    sender_id: from.userId,
    sender_device_id: from.userId,
    client_msg_id: f.client_msg_id,
    content: f.content,
    created_at: createdAt,
  };
  return { reply, forward: { userId: partner, frame: forward } };
}

export const SYNC_COMPLETE = { type: 'sync_complete' };

/** `/healthz` for the bench's start-up wait. */
export function healthz(req: { url?: string }, res: { writeHead(s: number): { end(b?: string): void } }): void {
  if (req.url === '/healthz') res.writeHead(200).end('{"status":"ok"}');
  else res.writeHead(404).end();
}
