import { ApiError, DomainError, type ErrorCode } from '../core/errors.js';
import { isStoreUnavailable, STORE_RETRY_AFTER_MS } from '../engines/store/unavailable.js';

/*
 * The one place domain errors become transport answers: an HTTP status per code (the
 * protocol's, where it names one), and the code itself in `error` frames. docs/errors.md
 * lists every code once.
 */

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_frame: 400,
  content_too_long: 400,
  username_taken: 409,
  invalid_credentials: 401,
  unauthorized: 401,
  forbidden: 403,
  not_a_member: 403,
  not_found: 404,
  chat_not_found: 404,
  group_too_large: 422,
  too_many_pinned: 422,
  too_many_contacts: 422,
  too_many_blocked: 422,
  blocked: 403,
  invalid_reference: 422,
  too_large: 413,
  invalid_attachment: 400,
  rate_limited: 429,
  suspended: 403,
  stale_epoch: 409,
  too_many_key_packages: 422,
  encryption_required: 403,
  not_encrypted: 422,
  internal: 500,
};

/** The HTTP status answering an error: the gateway's own choice for ApiError, else the code's. */
export function httpStatusOf(err: DomainError): number {
  if (err instanceof ApiError) return err.status;
  return HTTP_STATUS[err.code] ?? 500;
}

/** The `error` frame's code and message for anything a frame's handling threw (null: unexpected, log it). */
export function frameErrorOf(err: unknown): { code: ErrorCode; message: string; extra?: Record<string, unknown> } | null {
  if (err instanceof DomainError) return { code: err.code, message: err.message, extra: err.extra };
  return null;
}

/**
 * An error no rule explains: `internal`. While the store cannot be reached the answer
 * says so and carries retry_after_ms, so clients resend by themselves (nothing was stored).
 */
export function unexpectedError(err: unknown): { code: ErrorCode; message: string; extra?: Record<string, unknown> } {
  if (isStoreUnavailable(err))
    return { code: 'internal', message: 'the message store is unavailable: try again', extra: { retry_after_ms: STORE_RETRY_AFTER_MS } };
  return { code: 'internal', message: 'internal error' };
}
