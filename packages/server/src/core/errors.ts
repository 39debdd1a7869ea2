import type { HttpErrorCode, SocketErrorCode } from '@switchboard/protocol';

/** Every error code the protocol names (REST bodies and `error` frames); docs/errors.md lists when each happens. */
export type ErrorCode = HttpErrorCode | SocketErrorCode;

/**
 * What core raises when a request breaks a rule: the protocol's error code and a message
 * for people, never a transport detail. The gateway alone turns it into an HTTP status
 * (gateway/error-map.ts) or an `error` frame.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message?: string,
    /** Fields added to the answer (e.g. `user_ids` of unknown users, `retry_after_ms`). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message ?? code);
  }
}

/** The same as DomainError; the name socket code has always used. */
export class FrameError extends DomainError {}

/**
 * An HTTP-level condition the gateway answers itself with a status of its own choosing
 * (a body over 1 MiB: 413, a method the path does not take: 405). Core does not use it.
 */
export class ApiError extends DomainError {
  constructor(
    readonly status: number,
    code: HttpErrorCode,
    message?: string,
    extra?: Record<string, unknown>,
  ) {
    super(code, message, extra);
  }
}
