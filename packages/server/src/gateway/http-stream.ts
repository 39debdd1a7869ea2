import type { ServerResponse } from 'node:http';
import { TRANSPORT_OPEN, type FrameTransport } from './frame-transport.js';

const CLOSED = 3;

/** How a stream ended, told to its client: an SSE `close` event, or `closed` in a long-poll answer. */
export interface StreamClose {
  code: number;
  reason: string;
}

export interface HttpStreamHooks {
  /** The stream ended (closed by the server, its response gone, or not polled in time). */
  onClosed: () => void;
  /** The client is there (a poll came, or an SSE comment was written): it counts as heard. */
  onHeard: () => void;
}

/**
 * One GET /v1/events stream (PROTOCOL.md "Without WebSockets"): the transport of a
 * Connection, like a WebSocket. Client frames come by POST /v1/events/{stream_id}.
 */
export abstract class HttpStream implements FrameTransport {
  readyState = TRANSPORT_OPEN;
  /** When the client was last connected or polling (ms): past the idle limit the stream is closed. */
  lastSeenAt = Date.now();
  private reading: Promise<void> | null = null;
  private resumeReading: (() => void) | null = null;
  protected hooks: HttpStreamHooks = { onClosed: () => {}, onHeard: () => {} };

  constructor(readonly id: string) {}

  /** Set by the gateway when the stream becomes a connection. */
  setHooks(hooks: HttpStreamHooks): void {
    this.hooks = hooks;
  }

  abstract get bufferedAmount(): number;
  abstract send(text: string): void;
  abstract close(code: number, reason: string): void;
  abstract terminate(): void;
  /** Called by the gateway's sweeper: keeps the connection alive, closes a stream nobody polls. */
  abstract tick(now: number, idleMs: number): void;

  ping(): void {}

  /** Too many sends in flight: POSTs wait (readable()) until answers bring them down. */
  pause(): void {
    this.reading ??= new Promise((resolve) => (this.resumeReading = resolve));
  }

  resume(): void {
    this.resumeReading?.();
    this.reading = null;
    this.resumeReading = null;
  }

  /** Resolves when the stream takes client frames again (at once unless paused). */
  readable(): Promise<void> {
    return this.reading ?? Promise.resolve();
  }

  protected ended(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.resume();
    this.hooks.onClosed();
  }
}

/** Server-Sent Events: one `data:` line per frame, a comment line at least every 15 s. */
export class SseStream extends HttpStream {
  private lastWriteAt = Date.now();

  constructor(
    id: string,
    private readonly res: ServerResponse,
    private readonly commentEveryMs: number,
  ) {
    super(id);
    res.on('close', () => this.ended());
  }

  get bufferedAmount(): number {
    return this.res.writableLength + (this.res.socket?.writableLength ?? 0);
  }

  send(text: string): void {
    if (this.readyState !== TRANSPORT_OPEN) return;
    this.lastWriteAt = Date.now();
    // A frame is one JSON text: JSON.stringify never writes a raw line break into it.
    this.res.write(`data: ${text}\n\n`);
  }

  tick(now: number): void {
    if (this.readyState !== TRANSPORT_OPEN) return;
    // The client is connected while its response is open: it counts as heard (as a pong would).
    this.lastSeenAt = now;
    this.hooks.onHeard();
    if (now - this.lastWriteAt >= this.commentEveryMs) {
      this.lastWriteAt = now;
      this.res.write(': keep-alive\n\n');
    }
  }

  close(code: number, reason: string): void {
    if (this.readyState !== TRANSPORT_OPEN) return;
    // Not a frame (`onmessage` never sees it): an SSE event of its own that names the close code.
    this.res.end(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
    this.ended();
  }

  terminate(): void {
    this.res.destroy();
    this.ended();
  }
}

/** A long-poll waiting for frames: a local HTTP response, or one on another node (event-streams.ts). */
export interface PollWaiter {
  answer(frames: string[], closed: StreamClose | null): void;
}

/**
 * Long polling: frames queue here until the client's next GET ?stream_id= takes them all.
 * The queue's bytes are the stream's bufferedAmount, so replay waits for the client to
 * poll and a client that stops polling is closed as too slow, as a socket would be.
 */
export class PollStream extends HttpStream {
  private queue: string[] = [];
  private queuedBytes = 0;
  private waiter: { poll: PollWaiter; timer: NodeJS.Timeout } | null = null;
  private flushScheduled = false;
  /** Set once closed: the next poll gets what was left and this. */
  closedWith: StreamClose | null = null;
  /** A poll's answer carried closedWith. */
  private closeTold = false;

  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  send(text: string): void {
    if (this.readyState !== TRANSPORT_OPEN) return;
    this.queue.push(text);
    this.queuedBytes += text.length;
    // Frames written in one turn (a replay page, a burst) go in one answer.
    if (this.waiter && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        if (this.queue.length > 0) this.answerWaiter();
      });
    }
  }

  /** A poll: answered at once when frames (or the close) wait, else on the first frame or after waitMs with none. */
  poll(waiter: PollWaiter, waitMs: number): void {
    this.lastSeenAt = Date.now();
    this.hooks.onHeard();
    // A newer poll replaces an older one (the client gave up on it): the older gets nothing.
    if (this.waiter) {
      clearTimeout(this.waiter.timer);
      this.waiter.poll.answer([], null);
      this.waiter = null;
    }
    if (this.queue.length > 0 || this.closedWith || waitMs <= 0) {
      this.answer(waiter);
      return;
    }
    const timer = setTimeout(() => this.answerWaiter(), waitMs);
    this.waiter = { poll: waiter, timer };
  }

  /** The client stopped waiting (its request closed) before an answer: nothing was taken. */
  abandon(waiter: PollWaiter): void {
    if (this.waiter?.poll !== waiter) return;
    clearTimeout(this.waiter.timer);
    this.waiter = null;
    this.lastSeenAt = Date.now();
  }

  private answerWaiter(): void {
    const w = this.waiter;
    if (!w) return;
    clearTimeout(w.timer);
    this.waiter = null;
    this.answer(w.poll);
  }

  private answer(waiter: PollWaiter): void {
    const frames = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.lastSeenAt = Date.now();
    if (this.closedWith) this.closeTold = true;
    waiter.answer(frames, this.closedWith);
  }

  /** Waiting on a poll counts as connected; a stream not polled for idleMs is closed. */
  tick(now: number, idleMs: number): void {
    if (this.readyState !== TRANSPORT_OPEN) return;
    if (this.waiter) {
      this.lastSeenAt = now;
      this.hooks.onHeard();
      return;
    }
    if (now - this.lastSeenAt > idleMs) this.close(4002, 'idle: not polled');
  }

  close(code: number, reason: string): void {
    if (this.readyState !== TRANSPORT_OPEN) return;
    this.closedWith = { code, reason };
    this.ended();
    if (this.waiter) this.answerWaiter();
  }

  terminate(): void {
    if (this.readyState === TRANSPORT_OPEN) this.close(1006, 'terminated');
  }

  /** A closed stream whose client has been told in a poll's answer: it can be forgotten. */
  get told(): boolean {
    return this.closeTold;
  }
}

/** A long-poll answer's body: the frames are JSON texts already, joined as they are. */
export function pollBody(frames: string[], closed: StreamClose | null): string {
  const tail = closed ? `,"closed":${JSON.stringify(closed)}` : '';
  return `{"frames":[${frames.join(',')}]${tail}}`;
}
