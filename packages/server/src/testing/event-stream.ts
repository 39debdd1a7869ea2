/*
 * A test client of GET /v1/events (PROTOCOL.md "Without WebSockets"), as TestSocket is of
 * the WebSocket: Server-Sent Events read from a streaming fetch, or a long-poll loop;
 * frames recorded in order; client frames POSTed to /v1/events/{stream_id} one POST
 * after another (their order is the order they were sent in).
 */

import { FrameLog, type LoggedFrame as AnyFrame } from './frame-log.js';

export type StreamMode = 'sse' | 'poll';

export class TestStream extends FrameLog<AnyFrame> {
  streamId = '';
  /** How the stream ended: the server's close (SSE `close` event, long-poll `closed`), or 1006 when the connection failed. */
  closeInfo: { code: number; reason: string } | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Where polls and POSTs go (another node of the cluster, to test relaying); default the opening node. */
  via: string;
  private resolveClosed!: (c: { code: number; reason: string }) => void;
  private readonly abort = new AbortController();
  private posting: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly mode: StreamMode,
  ) {
    super();
    this.via = baseUrl;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Opens a stream and resolves once its `stream` frame came. */
  static async open(baseUrl: string, token: string, mode: StreamMode): Promise<TestStream> {
    const s = new TestStream(baseUrl, token, mode);
    const res = await fetch(`${baseUrl}/v1/events`, {
      headers: { authorization: `Bearer ${token}`, accept: mode === 'sse' ? 'text/event-stream' : 'application/json' },
      signal: s.abort.signal,
    });
    if (res.status !== 200) throw new Error(`GET /v1/events answered ${res.status}: ${await res.text()}`);
    if (mode === 'sse') void s.readSse(res);
    else {
      const body = (await res.json()) as { frames: AnyFrame[] };
      for (const f of body.frames) s.record(f);
      void s.pollLoop();
    }
    await s.waitFor((f) => f.type === 'stream', 5000, 'stream frame');
    s.streamId = s.frames[0]!.stream_id as string;
    return s;
  }

  private async readSse(res: Response): Promise<void> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let name = 'message';
          let data = '';
          for (const line of event.split('\n')) {
            if (line.startsWith('event: ')) name = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue; // a comment (keep-alive)
          if (name === 'close') this.end(JSON.parse(data));
          else this.record(JSON.parse(data));
        }
      }
    } catch {
      /* the connection failed */
    }
    this.end({ code: 1006, reason: 'connection ended' });
  }

  private async pollLoop(): Promise<void> {
    while (!this.closeInfo) {
      let res: Response;
      try {
        res = await fetch(`${this.via}/v1/events?stream_id=${encodeURIComponent(this.streamId || (await this.idSoon()))}`, {
          headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
          signal: this.abort.signal,
        });
      } catch {
        return this.end({ code: 1006, reason: 'poll failed' });
      }
      if (res.status !== 200) return this.end({ code: res.status === 401 ? 4100 : 1006, reason: `poll answered ${res.status}` });
      const body = (await res.json()) as { frames: AnyFrame[]; closed?: { code: number; reason: string } };
      for (const f of body.frames) this.record(f);
      if (body.closed) return this.end(body.closed);
    }
  }

  private async idSoon(): Promise<string> {
    await this.waitFor((f) => f.type === 'stream', 5000, 'stream frame');
    return this.frames[0]!.stream_id as string;
  }

  protected override record(frame: AnyFrame): void {
    if (this.closeInfo) return;
    super.record(frame);
  }

  private end(info: { code: number; reason: string }): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    this.resolveClosed(info);
  }

  /** POSTs a frame (or an array, or raw text) in order after earlier POSTs; resolves with the status. */
  post(frame: unknown): Promise<number> {
    const body = typeof frame === 'string' ? frame : JSON.stringify(frame);
    const p = this.posting.then(async () => {
      const res = await fetch(`${this.via}/v1/events/${encodeURIComponent(this.streamId)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    });
    this.posting = p.catch(() => 0);
    return p;
  }

  send(frame: unknown): void {
    void this.post(frame).catch(() => {});
  }

  all(type: string): AnyFrame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Sends a message and waits for its ack_sent (or error). */
  async sendMessage(chatId: string, content: string, clientMsgId = `c-${Math.random().toString(36).slice(2)}`): Promise<AnyFrame> {
    this.send({ type: 'send_message', chat_id: chatId, client_msg_id: clientMsgId, content });
    return this.waitFor(
      (f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === clientMsgId,
      10_000,
      `ack for ${clientMsgId}`,
    );
  }

  /** Stops reading (as a client that goes away): the server sees the connection end (SSE) or the polls stop. */
  stop(): void {
    this.end({ code: 1000, reason: 'client stopped' });
    this.abort.abort();
  }
}
