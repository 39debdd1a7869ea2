import type { WebSocketLike } from './socket.js';

/**
 * The socket over plain HTTP (PROTOCOL.md "Without WebSockets"), behind the little of the
 * WebSocket API the session uses (socket.ts), so that everything past the transport
 * (outbox, acks, dedup, reconnects) is the same code for the three transports.
 *
 * - `sse`: GET /v1/events with Accept: text/event-stream, read from a streaming fetch (not
 *   EventSource: it cannot send the Authorization header and reconnects on its own).
 * - `long-poll`: GET /v1/events with Accept: application/json, then GET ?stream_id= again
 *   and again.
 *
 * Client frames go by POST /v1/events/{stream_id}, one POST at a time, so the server reads
 * them in the order they were sent; frames written while one is in flight go together in
 * the next (an array, at most 100). A failed POST or poll ends the stream (close code
 * 1006): a poll answer lost on the way may have carried frames, and a new stream replays
 * what was not acknowledged.
 */
export type HttpTransport = 'sse' | 'long-poll';

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;
/** Frames per POST at most (PROTOCOL.md "Batching"). */
const MAX_FRAMES_PER_POST = 100;

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface HttpStreamSocketOptions {
  /** The node's HTTP base URL (the session's ws_url, turned to http(s) and without /v1/ws). */
  baseUrl: string;
  token: string;
  transport: HttpTransport;
  fetch?: typeof fetch;
}

export class HttpStreamSocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: Handler<unknown> | null = null;
  onmessage: Handler<{ data: unknown }> | null = null;
  onclose: Handler<{ code: number; reason: string }> | null = null;
  onerror: Handler<unknown> | null = null;
  /** The server's id of this stream, once its first frame came. */
  streamId = '';
  private readonly abort = new AbortController();
  private readonly fetch: typeof fetch;
  private outgoing: string[] = [];
  private posting = false;

  constructor(private readonly opts: HttpStreamSocketOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    void this.run().catch(() => this.end(1006, 'stream failed'));
  }

  send(data: string): void {
    if (this.readyState !== OPEN) throw new Error('stream is not open');
    this.outgoing.push(data);
    if (!this.posting) void this.flush();
  }

  close(code = 1000, reason = ''): void {
    this.end(code, reason);
  }

  private headers(accept: string): Record<string, string> {
    return { authorization: `Bearer ${this.opts.token}`, accept };
  }

  private async run(): Promise<void> {
    const sse = this.opts.transport === 'sse';
    const res = await this.fetch(`${this.opts.baseUrl}/v1/events`, {
      headers: this.headers(sse ? 'text/event-stream' : 'application/json'),
      signal: this.abort.signal,
      cache: 'no-store',
    });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      // 401: the token is gone (the session asks GET /v1/users/me to tell it from an outage).
      return this.end(1006, `GET /v1/events answered ${res.status}`);
    }
    if (sse) return this.readSse(res);
    await this.takePoll(res);
    while (this.readyState === OPEN) {
      const next = await this.fetch(`${this.opts.baseUrl}/v1/events?stream_id=${encodeURIComponent(this.streamId)}`, {
        headers: this.headers('application/json'),
        signal: this.abort.signal,
        cache: 'no-store',
      });
      if (next.status !== 200) return this.end(1006, `poll answered ${next.status}`);
      await this.takePoll(next);
    }
  }

  private async takePoll(res: Response): Promise<void> {
    const body = (await res.json()) as { frames?: unknown[]; closed?: { code: number; reason: string } };
    for (const frame of body.frames ?? []) this.frame(JSON.stringify(frame));
    if (body.closed) this.end(body.closed.code, body.closed.reason);
  }

  private async readSse(res: Response): Promise<void> {
    if (!res.body) return this.end(1006, 'no streaming body');
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.readyState === CLOSED) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
        if (data.length === 0) continue; // a comment: the keep-alive
        if (event === 'close') {
          const info = JSON.parse(data.join('\n')) as { code: number; reason: string };
          return this.end(info.code, info.reason);
        }
        this.frame(data.join('\n'));
      }
    }
    this.end(1006, 'event stream ended');
  }

  private frame(text: string): void {
    if (this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING) {
      // The first frame names the stream; the stream is open from here, like a socket's open.
      const first = JSON.parse(text) as { type?: string; stream_id?: string };
      if (first.type !== 'stream' || typeof first.stream_id !== 'string') return this.end(1006, 'no stream frame');
      this.streamId = first.stream_id;
      this.readyState = OPEN;
      this.onopen?.({});
      return;
    }
    this.onmessage?.({ data: text });
  }

  private async flush(): Promise<void> {
    this.posting = true;
    try {
      while (this.outgoing.length > 0 && this.readyState === OPEN) {
        const batch = this.outgoing.splice(0, MAX_FRAMES_PER_POST);
        const body = batch.length === 1 ? batch[0]! : `[${batch.join(',')}]`;
        const res = await this.fetch(`${this.opts.baseUrl}/v1/events/${encodeURIComponent(this.streamId)}`, {
          method: 'POST',
          headers: { ...this.headers('application/json'), 'content-type': 'application/json' },
          body,
          signal: this.abort.signal,
        });
        await res.body?.cancel().catch(() => {});
        if (res.status !== 202) return this.end(1006, `POST answered ${res.status}`);
      }
    } catch {
      this.end(1006, 'POST failed');
    } finally {
      this.posting = false;
    }
  }

  private end(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.abort.abort();
    // Asynchronously, as a WebSocket's close event is.
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** The HTTP base of a node from its ws URL: ws://host/v1/ws → http://host. */
export function httpBaseOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/\/v1\/ws\/?$/, '');
  return url.toString().replace(/\/$/, '');
}
