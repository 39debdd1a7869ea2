import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { MAX_JSON_DEPTH, jsonDepthWithin } from '@switchboard/protocol';
import { ApiError } from '../core/errors.js';

const MAX_BODY_BYTES = 1024 * 1024;

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

export function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** Reads and validates a JSON body with a zod schema; 400 invalid_request on any problem. */
export async function readBody<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes = MAX_BODY_BYTES): Promise<z.infer<S>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new ApiError(413, 'invalid_request', `body is over ${maxBytes / (1024 * 1024)} MiB`);
    chunks.push(chunk as Buffer);
  }
  let raw: unknown;
  const text = Buffer.concat(chunks).toString('utf8');
  if (!jsonDepthWithin(text)) throw new ApiError(400, 'invalid_request', `body nests deeper than ${MAX_JSON_DEPTH}`);
  try {
    raw = JSON.parse(text || 'null');
  } catch {
    throw new ApiError(400, 'invalid_request', 'body is not valid JSON');
  }
  return validBody(raw, schema);
}

/** A parsed JSON body checked with a zod schema; 400 invalid_request naming the first problem. */
export function validBody<S extends z.ZodType>(raw: unknown, schema: S): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new ApiError(400, 'invalid_request', `${where}${issue?.message ?? 'invalid body'}`);
  }
  return parsed.data;
}

/** An integer query parameter within [min, max], or the default when absent. */
export function intParam(url: URL, name: string, opts: { min: number; max: number; def?: number }): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return opts.def;
  if (!/^-?\d+$/.test(v)) throw new ApiError(400, 'invalid_request', `${name} must be an integer`);
  const n = Number(v);
  if (n < opts.min || n > opts.max) throw new ApiError(400, 'invalid_request', `${name} must be between ${opts.min} and ${opts.max}`);
  return n;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => Promise<void>;

/** A small method + path router: patterns like /v1/users/:id, params in order. */
export class Router {
  private readonly routes: { method: string; pattern: string; re: RegExp; handler: Handler }[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    const re = new RegExp('^' + pattern.replace(/:[a-z_]+/g, '([^/]+)') + '$');
    this.routes.push({ method, pattern, re, handler });
    return this;
  }

  /** Every registered route, as registered (the API description's test checks each is described). */
  list(): { method: string; pattern: string }[] {
    return this.routes.map(({ method, pattern }) => ({ method, pattern }));
  }

  /** Finds the route; 'method' when the path exists under another method. */
  match(method: string, pathname: string): { handler: Handler; params: string[] } | 'method' | null {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.re.exec(pathname);
      if (!m) continue;
      if (r.method !== method) {
        pathMatched = true;
        continue;
      }
      return { handler: r.handler, params: m.slice(1).map((p) => decodeURIComponent(p)) };
    }
    return pathMatched ? 'method' : null;
  }
}
