/**
 * What a Connection writes its frames through. A `ws` WebSocket satisfies it as it is (no
 * wrapper per socket: an idle socket's memory is mostly the socket); the HTTP streams of
 * GET /v1/events (http-stream.ts) implement it over Server-Sent Events or long polling, so
 * ordering, replay, gap fills, slow-consumer closes and acks are the same code for both.
 */
export interface FrameTransport {
  /** 1 (OPEN) while frames can be written. */
  readonly readyState: number;
  /** Bytes written but not yet taken by the peer: replay and the slow-consumer cap go by it. */
  readonly bufferedAmount: number;
  send(text: string): void;
  /** Stop / start taking client frames (too many sends in flight). */
  pause(): void;
  resume(): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
}

export const TRANSPORT_OPEN = 1;
