import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/*
 * The media-store seam: where the bytes of uploaded files live. Implementations:
 * LocalMediaStore (embedded: files under DATA_DIR/media, served by this server through
 * short-lived HMAC-signed URLs), S3MediaStore (any S3-compatible store: pre-signed
 * URLs, the bytes never pass through the chat nodes) and PgMediaStore (a cluster without
 * S3: the bytes in PostgreSQL, so every node serves every file). Contract: media-store.contract.ts.
 *
 * Guarantees every implementation gives:
 * - An upload URL accepts exactly the declared size: more bytes are refused (nothing
 *   stored), fewer leave no object; it stops working at its expiry.
 * - An object exists (stat answers its size) only once an upload completed whole.
 * - A download URL serves the bytes with the Content-Type and Content-Disposition it was
 *   made with, honours Range, and stops working at its expiry.
 */

/** Where an embedded store's signed URLs live on the server. */
export const LOCAL_UPLOAD_PATH = '/v1/media-upload/';
export const LOCAL_FILES_PATH = '/v1/media-files/';

export interface UploadTarget {
  url: string;
  method: 'PUT';
  /** Headers the client must send with the bytes (Content-Length is always `size`). */
  headers: Record<string, string>;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface DownloadOptions {
  contentType: string;
  /** A Content-Disposition value, e.g. `attachment; filename*=UTF-8''a.html`. */
  disposition: string;
  expiresAt: number;
  /** This server's public base URL (embedded URLs point back at it). */
  baseUrl: string;
}

export interface MediaStore {
  readonly kind: 'local' | 's3' | 'postgres';
  /** True when GET /v1/media/{id} should redirect to downloadUrl rather than serve the bytes itself. */
  readonly redirects: boolean;
  uploadTarget(key: string, opts: { contentType: string; size: number; expiresAt: number; baseUrl: string }): Promise<UploadTarget>;
  /** The stored object's size, or null when no complete upload exists. */
  stat(key: string): Promise<number | null>;
  /** Streams (a range of) the stored bytes. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Runs `fn` with the bytes in a local file (a temporary copy for remote stores), for tools that read files (sharp). */
  withFile<T>(key: string, fn: (path: string) => Promise<T>): Promise<T>;
  /** Stores bytes the server made itself (thumbnails). */
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Deletes objects; missing ones are ignored. */
  delete(keys: string[]): Promise<void>;
  downloadUrl(key: string, opts: DownloadOptions): Promise<string>;
  /** Stores whose URLs point at this server (embedded) answer them here: true when the request was one of theirs. */
  handle?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  close(): Promise<void>;
}
