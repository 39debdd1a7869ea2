import type { HttpErrorCode } from '@switchboard/protocol';

/** An error with an HTTP status and a stable code; the gateway turns it into a response. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message ?? code);
  }
}

/** An error answering a socket frame; the gateway turns it into an `error` frame. */
export class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
