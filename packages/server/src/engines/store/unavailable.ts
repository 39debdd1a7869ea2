/*
 * Whether a store call failed because the database cannot be reached right now (down,
 * restarting, connection cut), as opposed to a bug or a bad request. Such a failure is
 * worth retrying: the client is told so (retry_after_ms) and tries again by itself.
 */

/** Node's network errors seen when a connection cannot be made or is cut. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** PostgreSQL SQLSTATEs: class 08 (connection exception) and 57P01-57P03 (shutting down, cannot connect now). */
const PG_UNAVAILABLE = /^(08...|57P0[123])$/;

/** Messages of node-postgres's own errors for a lost or unobtainable connection (they carry no code). */
const PG_CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/;

export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || PG_UNAVAILABLE.test(code))) return true;
  if (PG_CONNECTION_MESSAGES.test(err.message)) return true;
  // AggregateError (a connect to several addresses) and wrapped causes.
  const nested = (err as { errors?: unknown[]; cause?: unknown }).errors ?? [(err as { cause?: unknown }).cause];
  return nested.some((e) => e !== err && isStoreUnavailable(e));
}

/** How long a client should wait before sending again while the store is unreachable (ms). */
export const STORE_RETRY_AFTER_MS = 1000;
