import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { link, open, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { serveBytes } from './http-bytes.js';
import {
  LOCAL_FILES_PATH,
  LOCAL_UPLOAD_PATH,
  type ByteRange,
  type DownloadOptions,
  type MediaStore,
  type UploadTarget,
} from './media-store.js';

/** Keys are media ids: letters, digits, `_` and `-` only, so a key can never name a path outside the folder. */
const KEY_RE = /^[A-Za-z0-9_-]{1,128}$/;

class TooLarge extends Error {}

/**
 * The embedded media store: one file per object under DATA_DIR/media/objects. Uploads and
 * downloads go through this server at URLs signed with an HMAC key kept in
 * DATA_DIR/media/url-key (made once), so they need no token and stop working at their
 * expiry. An upload is streamed to a temporary file, counted as it arrives (one byte past
 * the declared size ends it), fsynced, and renamed into place only when whole.
 */
export class LocalMediaStore implements MediaStore {
  readonly kind = 'local' as const;
  readonly redirects = false;
  private readonly objects: string;
  private readonly tmp: string;
  private readonly key: Buffer;

  constructor(dataDir: string) {
    const root = path.join(dataDir, 'media');
    this.objects = path.join(root, 'objects');
    this.tmp = path.join(root, 'tmp');
    mkdirSync(this.objects, { recursive: true });
    mkdirSync(this.tmp, { recursive: true });
    const keyFile = path.join(root, 'url-key');
    try {
      this.key = readFileSync(keyFile);
    } catch {
      this.key = randomBytes(32);
      writeFileSync(keyFile, this.key, { mode: 0o600 });
    }
  }

  private file(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`bad media key: ${key}`);
    return path.join(this.objects, key);
  }

  private sign(parts: (string | number)[]): string {
    return createHmac('sha256', this.key).update(parts.join('\n')).digest('base64url');
  }

  private verify(parts: (string | number)[], sig: string | null): boolean {
    if (!sig) return false;
    const want = Buffer.from(this.sign(parts));
    const got = Buffer.from(sig);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  async uploadTarget(key: string, opts: { contentType: string; size: number; expiresAt: number; baseUrl: string }): Promise<UploadTarget> {
    this.file(key);
    const sig = this.sign(['PUT', key, opts.size, opts.expiresAt]);
    const q = new URLSearchParams({ size: String(opts.size), expires: String(opts.expiresAt), sig });
    return { url: `${opts.baseUrl}${LOCAL_UPLOAD_PATH}${key}?${q}`, method: 'PUT', headers: { 'content-type': opts.contentType } };
  }

  async downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    this.file(key);
    const sig = this.sign(['GET', key, opts.expiresAt, opts.contentType, opts.disposition]);
    const q = new URLSearchParams({ expires: String(opts.expiresAt), type: opts.contentType, disposition: opts.disposition, sig });
    return `${opts.baseUrl}${LOCAL_FILES_PATH}${key}?${q}`;
  }

  async stat(key: string): Promise<number | null> {
    try {
      return (await stat(this.file(key))).size;
    } catch {
      return null;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.file(key);
    // Opened before returning, so a missing file fails here rather than mid-response.
    const handle = await open(file, 'r');
    // The stream owns the handle and closes it when done (never the raw fd twice: a reused fd may be a socket by then).
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  withFile<T>(key: string, fn: (path: string) => Promise<T>): Promise<T> {
    return fn(this.file(key));
  }

  async put(key: string, body: Buffer): Promise<void> {
    const tmp = this.tmpFile(key);
    await writeFile(tmp, body, { flush: true });
    await rename(tmp, this.file(key));
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => rm(this.file(k), { force: true })));
  }

  async close(): Promise<void> {}

  private tmpFile(key: string): string {
    return path.join(this.tmp, `${key}.${randomBytes(6).toString('hex')}`);
  }

  /**
   * Answers requests to this store's signed URLs (PUT uploads, GET/HEAD downloads);
   * false for any other path. Called by the gateway before its own routes.
   */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname.startsWith(LOCAL_UPLOAD_PATH)) {
      await this.handleUpload(req, res, url.pathname.slice(LOCAL_UPLOAD_PATH.length), url.searchParams);
      return true;
    }
    if (url.pathname.startsWith(LOCAL_FILES_PATH)) {
      await this.handleDownload(req, res, url.pathname.slice(LOCAL_FILES_PATH.length), url.searchParams);
      return true;
    }
    return false;
  }

  private async handleUpload(req: IncomingMessage, res: ServerResponse, key: string, q: URLSearchParams): Promise<void> {
    const size = Number(q.get('size'));
    const expires = Number(q.get('expires'));
    if (req.method !== 'PUT') return refuse(res, 405, 'invalid_request', 'uploads are PUT');
    if (!KEY_RE.test(key) || !this.verify(['PUT', key, q.get('size') ?? '', q.get('expires') ?? ''], q.get('sig')))
      return refuse(res, 403, 'forbidden', 'bad upload signature');
    if (!(expires > Date.now())) return refuse(res, 403, 'forbidden', 'upload URL expired');
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > size) return refuse(res, 413, 'too_large', `this upload takes exactly ${size} bytes`);
    if ((await this.stat(key)) !== null) return refuse(res, 409, 'invalid_request', 'already uploaded');

    const tmp = this.tmpFile(key);
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        // Cut off at the first byte past the declared size: nothing more is read or kept.
        done(received > size ? new TooLarge() : null, chunk);
      },
    });
    try {
      await pipeline(req, counter, createWriteStream(tmp, { flush: true }));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      if (err instanceof TooLarge) {
        refuse(res, 413, 'too_large', `this upload takes exactly ${size} bytes`, true);
        return;
      }
      // The client went away mid-upload: nothing is kept.
      res.destroy();
      return;
    }
    if (received !== size) {
      await unlink(tmp).catch(() => {});
      return refuse(res, 400, 'invalid_request', `received ${received} of ${size} bytes`);
    }
    // The first whole upload wins; a second one racing it is refused (link fails if the name exists).
    try {
      await link(tmp, this.file(key));
    } catch {
      await unlink(tmp).catch(() => {});
      return refuse(res, 409, 'invalid_request', 'already uploaded');
    }
    await unlink(tmp).catch(() => {});
    res.writeHead(201, { 'content-length': 0 }).end();
  }

  private async handleDownload(req: IncomingMessage, res: ServerResponse, key: string, q: URLSearchParams): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'invalid_request', 'downloads are GET');
    const expires = Number(q.get('expires'));
    const contentType = q.get('type') ?? '';
    const disposition = q.get('disposition') ?? '';
    if (!KEY_RE.test(key) || !this.verify(['GET', key, q.get('expires') ?? '', contentType, disposition], q.get('sig')))
      return refuse(res, 403, 'forbidden', 'bad download signature');
    if (!(expires > Date.now())) return refuse(res, 403, 'forbidden', 'download URL expired');
    const size = await this.stat(key);
    if (size === null) return refuse(res, 404, 'not_found', 'no such media');
    await serveBytes(req, res, { size, contentType, disposition, open: (range) => this.read(key, range) });
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
