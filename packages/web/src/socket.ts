import type { WebSocketConstructor, WebSocketLike } from '@switchboard/client';

/*
 * The browser's WebSocket, wrapped so that the app can act on what the browser knows about
 * the network: when it goes offline the open socket is dropped at once (a socket can stay
 * "open" for a long time on a dead network), and no connection is attempted until it is
 * back. The SDK sees an ordinary close (1006) and does its reconnect, resend and replay.
 */
const live = new Set<OfflineAwareSocket>();

class OfflineAwareSocket implements WebSocketLike {
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  private ws: WebSocket | null = null;
  private closed = false;

  constructor(url: string) {
    live.add(this);
    if (!navigator.onLine) {
      setTimeout(() => this.fail(1006, 'offline'), 0);
      return;
    }
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = (ev) => this.onopen?.(ev);
    ws.onmessage = (ev) => this.onmessage?.(ev);
    ws.onerror = (ev) => this.onerror?.(ev);
    ws.onclose = (ev) => this.fail(ev.code, ev.reason);
  }

  get readyState(): number {
    if (this.closed) return 3;
    return this.ws?.readyState ?? 0;
  }

  send(data: string): void {
    if (!this.closed) this.ws?.send(data);
  }

  close(code?: number, reason?: string): void {
    try {
      this.ws?.close(code === undefined || code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
    } catch {
      /* already closing */
    }
  }

  /** Reports the close once, whether the browser's socket or the network went first. */
  fail(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onerror = this.ws.onclose = null;
      try {
        this.ws.close();
      } catch {
        /* already closed */
      }
    }
    this.onclose?.({ code, reason });
  }
}

/**
 * Undefined in a browser without WebSocket (or where a proxy extension or policy took it
 * away): the SDK then starts on Server-Sent Events (PROTOCOL.md "Without WebSockets").
 */
export const AppWebSocket: WebSocketConstructor | undefined = typeof WebSocket === 'function' ? OfflineAwareSocket : undefined;

/** Called on the window's `offline` event. */
export function dropSockets(): void {
  for (const s of [...live]) s.fail(1006, 'offline');
}
