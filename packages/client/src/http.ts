/** JSON over HTTP with the global fetch (browsers and Node 20). */

/** A non-2xx answer. `code` is the body's stable `error` field when there is one. */
export class SwitchboardHttpError extends Error {
  override readonly name = 'SwitchboardHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly body: unknown,
    method: string,
    path: string,
  ) {
    super(`${method} ${path}: ${status} ${code}${messageOf(body)}`);
  }
}

function messageOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return ` (${body.message})`;
  return '';
}

export type FetchLike = (
  input: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<{
  status: number;
  ok: boolean;
  text(): Promise<string>;
}>;

export interface RequestOptions {
  token?: string;
  body?: unknown;
  fetch?: FetchLike;
}

export async function requestJson<T>(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const doFetch = opts.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const res = await doFetch(trimSlash(baseUrl) + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) {
    const code =
      typeof parsed === 'object' && parsed !== null && 'error' in parsed && typeof parsed.error === 'string' ? parsed.error : 'http_error';
    throw new SwitchboardHttpError(res.status, code, parsed, method, path);
  }
  return parsed as T;
}

export interface RateLimitRetry {
  /** Calls made in all, the first included. Default 4. */
  attempts?: number;
  /** The longest wait for one retry. A 429 asking for longer surfaces at once: waiting less would only meet it again. Default 30 s. */
  maxWaitMs?: number;
  /** Aborting it ends a wait: the call rejects with the 429 it was waiting out. */
  signal?: AbortSignal;
}

/**
 * Runs `call`, and while it fails with 429 rate_limited waits the answer's retry_after_ms and
 * runs it again (the server stores and consumes nothing of a refused call, so this is safe).
 * What is left after `attempts` calls, or any other error, is thrown as it came.
 */
export async function retryRateLimited<T>(call: () => Promise<T>, opts: RateLimitRetry = {}): Promise<T> {
  const attempts = opts.attempts ?? 4;
  const maxWaitMs = opts.maxWaitMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof SwitchboardHttpError) || err.status !== 429 || err.code !== 'rate_limited') throw err;
      const asked = (err.body as { retry_after_ms?: unknown } | undefined)?.retry_after_ms;
      const waitMs = Math.max(50, typeof asked === 'number' && Number.isFinite(asked) ? asked : 1000);
      if (attempt >= attempts || waitMs > maxWaitMs || opts.signal?.aborted) throw err;
      await sleep(waitMs, opts.signal).catch(() => {
        throw err;
      });
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** Builds a query string from defined values. */
export function query(params: Record<string, string | number | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The socket URL for a server base URL: http(s)://host → ws(s)://host/v1/ws. */
export function wsUrlFor(baseUrl: string): string {
  return trimSlash(baseUrl).replace(/^http/, 'ws') + '/v1/ws';
}
