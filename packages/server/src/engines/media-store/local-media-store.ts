import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { link, open, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, DownloadOptions, MediaStore, UploadTarget } from './media-store.js';
import { SignedUrls, TooLarge, checkKey } from './signed-urls.js';

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
  private readonly urls: SignedUrls;

  constructor(dataDir: string) {
    const root = path.join(dataDir, 'media');
    this.objects = path.join(root, 'objects');
    this.tmp = path.join(root, 'tmp');
    mkdirSync(this.objects, { recursive: true });
    mkdirSync(this.tmp, { recursive: true });
    const keyFile = path.join(root, 'url-key');
    let secret: Buffer;
    try {
      secret = readFileSync(keyFile);
    } catch {
      secret = randomBytes(32);
      writeFileSync(keyFile, secret, { mode: 0o600 });
    }
    this.urls = new SignedUrls(secret);
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.objects, key);
  }

  async uploadTarget(key: string, opts: { contentType: string; size: number; expiresAt: number; baseUrl: string }): Promise<UploadTarget> {
    return this.urls.uploadTarget(key, opts);
  }

  async downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    return this.urls.downloadUrl(key, opts);
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

  /** Answers requests to this store's signed URLs (see signed-urls.ts); false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    return this.urls.handle(req, res, url, this);
  }

  /** Streams an upload to a temporary file, fsynced, and links it into place only when whole. */
  async receive(key: string, size: number, body: IncomingMessage): Promise<{ received: number; stored: boolean }> {
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
      await pipeline(body, counter, createWriteStream(tmp, { flush: true }));
      if (received !== size) return { received, stored: false };
      // The first whole upload wins: link fails if the name exists.
      return {
        received,
        stored: await link(tmp, this.file(key)).then(
          () => true,
          () => false,
        ),
      };
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }
}
