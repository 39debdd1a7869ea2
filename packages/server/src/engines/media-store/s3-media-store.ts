import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ByteRange, DownloadOptions, MediaStore, UploadTarget } from './media-store.js';
import { withTempCopy } from './temp-copy.js';

export interface S3Options {
  /** Endpoint URL of an S3-compatible store; unset for AWS S3 itself. */
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (http://host/bucket/key): most self-hosted stores need them. */
  forcePathStyle: boolean;
  /** Prefix of every object key (e.g. `media/`). */
  prefix?: string;
}

/**
 * Media in any S3-compatible store (cluster mode). Clients upload with a pre-signed PUT
 * whose signature covers Content-Length (the store refuses any other length) and
 * download through a pre-signed GET the server redirects to, so the bytes never pass
 * through the chat nodes. The server reads objects only to make thumbnails.
 */
export class S3MediaStore implements MediaStore {
  readonly kind = 's3' as const;
  readonly redirects = true;
  private readonly client: S3Client;

  constructor(private readonly opts: S3Options) {
    this.client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      ...(opts.accessKeyId && opts.secretAccessKey
        ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } }
        : {}),
      // Checksums the SDK would add to PUTs cannot be known by a client uploading through a pre-signed URL.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private objectKey(key: string): string {
    return `${this.opts.prefix ?? ''}${key}`;
  }

  async uploadTarget(key: string, opts: { contentType: string; size: number; expiresAt: number }): Promise<UploadTarget> {
    const command = new PutObjectCommand({
      Bucket: this.opts.bucket,
      Key: this.objectKey(key),
      ContentLength: opts.size,
      ContentType: opts.contentType,
    });
    const url = await getSignedUrl(this.client, command, {
      expiresIn: expiresIn(opts.expiresAt),
      // Signed as headers (not query parameters): a PUT of any other length or type fails its signature.
      signableHeaders: new Set(['content-length', 'content-type']),
      unhoistableHeaders: new Set(['content-length', 'content-type']),
    });
    return { url, method: 'PUT', headers: { 'content-type': opts.contentType } };
  }

  async downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.opts.bucket,
      Key: this.objectKey(key),
      ResponseContentType: opts.contentType,
      ResponseContentDisposition: opts.disposition,
    });
    return getSignedUrl(this.client, command, { expiresIn: expiresIn(opts.expiresAt) });
  }

  async stat(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
      return head.ContentLength ?? null;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (err as { name?: string }).name === 'NotFound') return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const out = await this.client.send(
      new GetObjectCommand({
        Bucket: this.opts.bucket,
        Key: this.objectKey(key),
        ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
      }),
    );
    return out.Body as Readable;
  }

  async withFile<T>(key: string, fn: (path: string) => Promise<T>): Promise<T> {
    return withTempCopy(await this.read(key), fn);
  }

  async put(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key), Body: body, ContentType: contentType }),
    );
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.opts.bucket,
          Delete: { Objects: batch.map((k) => ({ Key: this.objectKey(k) })), Quiet: true },
        }),
      );
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** Seconds until `at`, at least 1. */
function expiresIn(at: number): number {
  return Math.max(1, Math.ceil((at - Date.now()) / 1000));
}
