import type { WebSocketConstructor, WebSocketLike } from './socket.js';
import type { FetchLike } from './http.js';

/** An in-memory WebSocket for unit tests: the test plays the server. */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}

  /** WebSocket messages sent (an array of frames counts once: ?batch=1). */
  messages = 0;

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.messages++;
    const parsed = JSON.parse(data) as Record<string, unknown> | Record<string, unknown>[];
    this.sent.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }
  // server side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: object): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  sentOf(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }
}

export function fakeNetwork(): { WebSocket: WebSocketConstructor; sockets: FakeSocket[]; next(): Promise<FakeSocket> } {
  const sockets: FakeSocket[] = [];
  let waiters: ((s: FakeSocket) => void)[] = [];
  class Ctor extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
      const w = waiters;
      waiters = [];
      for (const fn of w) fn(this);
    }
  }
  let seen = 0;
  return {
    WebSocket: Ctor,
    sockets,
    next: () =>
      new Promise((resolve) => {
        if (sockets.length > seen) resolve(sockets[seen++]!);
        else
          waiters.push((s) => {
            seen++;
            resolve(s);
          });
      }),
  };
}

/** A fetch that answers every request with one status and body. */
export function fakeFetch(status: number, body: unknown): FetchLike {
  return async () => ({ status, ok: status >= 200 && status < 300, text: async () => JSON.stringify(body) });
}

/**
 * A fetch that plays the server's REST side for the socket: POST /v1/ws-tickets answers
 * ticket-1, ticket-2, ... (logged in `tickets`), other paths as `routes` says (default 200 {}).
 */
export function ticketFetch(routes: Record<string, [number, unknown]> = {}): FetchLike & { tickets: string[]; calls: string[] } {
  const tickets: string[] = [];
  const calls: string[] = [];
  const fn = async (input: string, init?: { method?: string }) => {
    const path = new URL(input).pathname;
    const key = `${init?.method ?? 'GET'} ${path}`;
    calls.push(key);
    let [status, body] = routes[key] ?? [200, {}];
    if (key === 'POST /v1/ws-tickets' && !routes[key]) {
      tickets.push(`ticket-${tickets.length + 1}`);
      [status, body] = [201, { ticket: tickets[tickets.length - 1], expires_at: Date.now() + 30_000 }];
    }
    return { status, ok: status >= 200 && status < 300, text: async () => JSON.stringify(body) };
  };
  return Object.assign(fn, { tickets, calls });
}

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The socket once the client's queued frames have gone (it sends a turn's frames together, in a microtask). */
export async function flushed<T>(socket: T): Promise<T> {
  await new Promise<void>((resolve) => queueMicrotask(resolve));
  return socket;
}
