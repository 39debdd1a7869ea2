import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ByteRange } from './media-store.js';

/*
 * Serving stored bytes over HTTP, shared by the embedded store's signed URLs and the
 * gateway's direct GET /v1/media/{id}: one Range parser, one set of headers.
 */

/**
 * The single byte range a Range header asks for: null for no (or an unsupported,
 * multi-range) header, which is answered with the whole body; 'unsatisfiable' for one
 * outside the object (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, from, to] = m;
  if (from === '' && to === '') return null;
  if (from === '') {
    // A suffix: the last N bytes.
    const n = Number(to);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Headers every media response carries: the type as stored, never sniffed, never run as a page. */
export function mediaHeaders(contentType: string, disposition: string): Record<string, string> {
  return {
    'content-type': contentType,
    'content-disposition': disposition,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "sandbox; default-src 'none'",
    'accept-ranges': 'bytes',
    'cache-control': 'private, max-age=300',
  };
}

/**
 * Answers a GET or HEAD for an object of `size` bytes, honouring Range (206, or 416 out of
 * bounds); `open` streams the bytes asked for, piped with backpressure, never buffered whole.
 */
export async function serveBytes(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { size: number; contentType: string; disposition: string; open: (range?: ByteRange) => Promise<NodeJS.ReadableStream> },
): Promise<void> {
  const headers = mediaHeaders(opts.contentType, opts.disposition);
  const range = parseRange(req.headers.range, opts.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${opts.size}`, 'content-length': 0 }).end();
    return;
  }
  const status = range ? 206 : 200;
  const length = range ? range.end - range.start + 1 : opts.size;
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${opts.size}`;
  if (req.method === 'HEAD') {
    res.writeHead(status, { ...headers, 'content-length': length }).end();
    return;
  }
  const body = await opts.open(range ?? undefined);
  try {
    res.writeHead(status, { ...headers, 'content-length': length });
  } catch (err) {
    // A header Node refuses: the opened stream (a file handle) must not outlive the request.
    (body as NodeJS.ReadableStream & { destroy(): void }).destroy();
    throw err;
  }
  await pipeline(body, res).catch(() => {
    // The client went away mid-body: nothing to answer any more.
    res.destroy();
  });
}
