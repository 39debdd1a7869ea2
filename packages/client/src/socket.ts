/**
 * The little of the WebSocket API the SDK uses, satisfied by the browser's WebSocket and
 * by the `ws` package's, so neither is imported here: the constructor is an option.
 */

// Method syntax makes the parameter bivariant, so a handler typed for a richer event
// (the DOM's MessageEvent, ws's MessageEvent) is assignable here.
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState values (the same in every implementation). */
export const OPEN = 1;

export function defaultWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}
