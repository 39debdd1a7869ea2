import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { serveBytes } from './http-bytes.js';
import { LOCAL_FILES_PATH, LOCAL_UPLOAD_PATH, type ByteRange, type DownloadOptions, type UploadTarget } from './media-store.js';

/*
 * Upload and download URLs served by this server itself (the local and PostgreSQL media
 * stores; S3 signs its own). They are HMAC-signed with the store's secret, so they need
 * no token, cannot be altered (size, type, disposition are signed) and stop working at
 * their expiry. What differs between the stores is only where the bytes go: `Objects`.
 */

/** Keys are media ids: letters, digits, `_` and `-` only, so a key can never name a path outside a folder. */
const KEY_RE = /^[A-Za-z0-9_-]{1,128}$/;

export function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw new Error(`bad media key: ${key}`);
}

/** Thrown by `Objects.receive` at the first byte past the declared size. */
export class TooLarge extends Error {}

/** Where a store keeps the bytes behind its URLs. */
export interface Objects {
  stat(key: string): Promise<number | null>;
  read(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Takes an upload's body, keeping nothing unless exactly `size` bytes came; answers how
   * many came and whether the object is now stored (false: short, or a racing upload of
   * the same key won). Throws TooLarge past `size`; any other throw means the body broke off.
   */
  receive(key: string, size: number, body: IncomingMessage): Promise<{ received: number; stored: boolean }>;
}

export class SignedUrls {
  constructor(private readonly secret: Buffer) {}

  uploadTarget(key: string, opts: { contentType: string; size: number; expiresAt: number; baseUrl: string }): UploadTarget {
    checkKey(key);
    const sig = this.sign(['PUT', key, opts.size, opts.expiresAt]);
    const q = new URLSearchParams({ size: String(opts.size), expires: String(opts.expiresAt), sig });
    return { url: `${opts.baseUrl}${LOCAL_UPLOAD_PATH}${key}?${q}`, method: 'PUT', headers: { 'content-type': opts.contentType } };
  }

  downloadUrl(key: string, opts: DownloadOptions): string {
    checkKey(key);
    const sig = this.sign(['GET', key, opts.expiresAt, opts.contentType, opts.disposition]);
    const q = new URLSearchParams({ expires: String(opts.expiresAt), type: opts.contentType, disposition: opts.disposition, sig });
    return `${opts.baseUrl}${LOCAL_FILES_PATH}${key}?${q}`;
  }

  /** Answers requests to the signed URLs (PUT uploads, GET/HEAD downloads); false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, objects: Objects): Promise<boolean> {
    if (url.pathname.startsWith(LOCAL_UPLOAD_PATH)) {
      await this.upload(req, res, url.pathname.slice(LOCAL_UPLOAD_PATH.length), url.searchParams, objects);
      return true;
    }
    if (url.pathname.startsWith(LOCAL_FILES_PATH)) {
      await this.download(req, res, url.pathname.slice(LOCAL_FILES_PATH.length), url.searchParams, objects);
      return true;
    }
    return false;
  }

  private sign(parts: (string | number)[]): string {
    return createHmac('sha256', this.secret).update(parts.join('\n')).digest('base64url');
  }

  private verify(parts: (string | number)[], sig: string | null): boolean {
    if (!sig) return false;
    const want = Buffer.from(this.sign(parts));
    const got = Buffer.from(sig);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  private async upload(req: IncomingMessage, res: ServerResponse, key: string, q: URLSearchParams, objects: Objects): Promise<void> {
    const size = Number(q.get('size'));
    const expires = Number(q.get('expires'));
    if (req.method !== 'PUT') return refuse(res, 405, 'invalid_request', 'uploads are PUT');
    if (!KEY_RE.test(key) || !this.verify(['PUT', key, q.get('size') ?? '', q.get('expires') ?? ''], q.get('sig')))
      return refuse(res, 403, 'forbidden', 'bad upload signature');
    if (!(expires > Date.now())) return refuse(res, 403, 'forbidden', 'upload URL expired');
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > size) return refuse(res, 413, 'too_large', `this upload takes exactly ${size} bytes`);
    if ((await objects.stat(key)) !== null) return refuse(res, 409, 'invalid_request', 'already uploaded');
    let outcome: { received: number; stored: boolean };
    try {
      outcome = await objects.receive(key, size, req);
    } catch (err) {
      if (err instanceof TooLarge) return refuse(res, 413, 'too_large', `this upload takes exactly ${size} bytes`, true);
      // The client went away mid-upload (or the storage failed): nothing is kept.
      res.destroy();
      return;
    }
    if (outcome.received !== size) return refuse(res, 400, 'invalid_request', `received ${outcome.received} of ${size} bytes`);
    // The first whole upload wins; a second one racing it is refused.
    if (!outcome.stored) return refuse(res, 409, 'invalid_request', 'already uploaded');
    res.writeHead(201, { 'content-length': 0 }).end();
  }

  private async download(req: IncomingMessage, res: ServerResponse, key: string, q: URLSearchParams, objects: Objects): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'invalid_request', 'downloads are GET');
    const expires = Number(q.get('expires'));
    const contentType = q.get('type') ?? '';
    const disposition = q.get('disposition') ?? '';
    if (!KEY_RE.test(key) || !this.verify(['GET', key, q.get('expires') ?? '', contentType, disposition], q.get('sig')))
      return refuse(res, 403, 'forbidden', 'bad download signature');
    if (!(expires > Date.now())) return refuse(res, 403, 'forbidden', 'download URL expired');
    const size = await objects.stat(key);
    if (size === null) return refuse(res, 404, 'not_found', 'no such media');
    await serveBytes(req, res, { size, contentType, disposition, open: (range) => objects.read(key, range) });
  }
}

function refuse(res: ServerResponse, status: number, error: string, message: string, close = false): void {
  const text = JSON.stringify({ error, message });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  };
  // The rest of a refused body is not read: close rather than leave it in the socket.
  if (close) headers.connection = 'close';
  res.writeHead(status, headers).end(text);
}
