import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import type { ByteRange, DownloadOptions, MediaStore, UploadTarget } from './media-store.js';
import { SignedUrls, TooLarge, checkKey } from './signed-urls.js';
import { withTempCopy } from './temp-copy.js';
/** Bytes per stored row: big enough to be few rows, small enough to hold one in memory per upload. */
const CHUNK = 1024 * 1024;

/*
 * Tables of their own, created here (not in the store's migrations): only a cluster
 * without S3 uses them. Chunks are written under an upload id and become an object only
 * when the whole upload arrived (one row in media_blobs), so a cut upload is never seen.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS media_blob_chunks (
    upload_id text NOT NULL,
    idx integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (upload_id, idx)
  );
  CREATE TABLE IF NOT EXISTS media_blobs (
    key text PRIMARY KEY,
    upload_id text NOT NULL,
    size bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS media_blob_url_key (
    id integer PRIMARY KEY,
    secret bytea NOT NULL
  );
`;

/**
 * The media store of a cluster without S3: the bytes live in PostgreSQL, so every node
 * takes any upload and serves any download (a node's own disk would hold a file only
 * that node can serve). URLs point at the node that made them and are HMAC-signed with a
 * key kept in PostgreSQL, so any node verifies them. Uploads stream into 1 MiB rows as
 * they arrive (one byte past the declared size ends them); downloads stream row by row.
 * For heavy media use S3 (S3_BUCKET): the bytes then never pass through the chat nodes.
 */
export class PgMediaStore implements MediaStore {
  readonly kind = 'postgres' as const;
  readonly redirects = false;

  private readonly urls: SignedUrls;

  private constructor(
    private readonly pool: pg.Pool,
    secret: Buffer,
  ) {
    this.urls = new SignedUrls(secret);
  }

  static async open(connectionString: string): Promise<PgMediaStore> {
    // Bounded like the store's pools: a request fails (500) rather than hang while PostgreSQL is away.
    const pool = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 10_000, statement_timeout: 30_000 });
    // An idle connection that dies (PostgreSQL restarting, a network cut) is dropped by the
    // pool; unhandled, its 'error' event would end the process. The next query reconnects.
    pool.on('error', () => {});
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Nodes starting together: one creates the tables and the key, the others wait for it.
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('switchboard media_blobs'))`);
      await client.query(SCHEMA);
      await client.query('INSERT INTO media_blob_url_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [randomBytes(32)]);
      const { rows } = await client.query<{ secret: Buffer }>('SELECT secret FROM media_blob_url_key WHERE id = 1');
      await client.query('COMMIT');
      return new PgMediaStore(pool, rows[0]!.secret);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      await pool.end().catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async uploadTarget(key: string, opts: { contentType: string; size: number; expiresAt: number; baseUrl: string }): Promise<UploadTarget> {
    return this.urls.uploadTarget(key, opts);
  }

  async downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    return this.urls.downloadUrl(key, opts);
  }

  private async object(key: string): Promise<{ uploadId: string; size: number } | null> {
    const { rows } = await this.pool.query<{ upload_id: string; size: string }>('SELECT upload_id, size FROM media_blobs WHERE key = $1', [
      key,
    ]);
    return rows[0] ? { uploadId: rows[0].upload_id, size: Number(rows[0].size) } : null;
  }

  async stat(key: string): Promise<number | null> {
    return (await this.object(key))?.size ?? null;
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    // Looked up before returning, so a missing object fails here rather than mid-response.
    const found = await this.object(key);
    if (!found) throw new Error(`no media object ${key}`);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? found.size - 1, found.size - 1);
    const pool = this.pool;
    async function* rows(): AsyncGenerator<Buffer> {
      for (let idx = Math.floor(start / CHUNK); idx * CHUNK <= end; idx++) {
        const from = Math.max(start - idx * CHUNK, 0);
        const to = Math.min(end - idx * CHUNK, CHUNK - 1);
        // substring of bytea is 1-based: only the bytes asked for leave the database.
        const { rows: got } = await pool.query<{ data: Buffer }>(
          'SELECT substring(data FROM $3 FOR $4) AS data FROM media_blob_chunks WHERE upload_id = $1 AND idx = $2',
          [found!.uploadId, idx, from + 1, to - from + 1],
        );
        if (!got[0]) throw new Error(`media object ${key}: chunk ${idx} is missing`);
        yield got[0].data;
      }
    }
    return found.size === 0 || start > end ? Readable.from([]) : Readable.from(rows());
  }

  async withFile<T>(key: string, fn: (path: string) => Promise<T>): Promise<T> {
    return withTempCopy(await this.read(key), fn);
  }

  async put(key: string, body: Buffer): Promise<void> {
    checkKey(key);
    const uploadId = randomBytes(12).toString('hex');
    for (let idx = 0; idx * CHUNK < body.length; idx++) await this.writeChunk(uploadId, idx, body.subarray(idx * CHUNK, (idx + 1) * CHUNK));
    if (!(await this.commit(key, uploadId, body.length))) await this.dropChunks([uploadId]);
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const { rows } = await this.pool.query<{ upload_id: string }>(
      'DELETE FROM media_blobs WHERE key = ANY($1::text[]) RETURNING upload_id',
      [keys],
    );
    await this.dropChunks(rows.map((r) => r.upload_id));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async writeChunk(uploadId: string, idx: number, data: Buffer): Promise<void> {
    await this.pool.query('INSERT INTO media_blob_chunks (upload_id, idx, data) VALUES ($1, $2, $3)', [uploadId, idx, data]);
  }

  /** Makes the upload the object `key`; false when one exists already (the first whole upload wins). */
  private async commit(key: string, uploadId: string, size: number): Promise<boolean> {
    const res = await this.pool.query('INSERT INTO media_blobs (key, upload_id, size) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING', [
      key,
      uploadId,
      size,
    ]);
    return res.rowCount === 1;
  }

  private async dropChunks(uploadIds: string[]): Promise<void> {
    if (uploadIds.length > 0) await this.pool.query('DELETE FROM media_blob_chunks WHERE upload_id = ANY($1::text[])', [uploadIds]);
  }

  /** Answers this store's signed URLs (see signed-urls.ts) on any node; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    return this.urls.handle(req, res, url, this);
  }

  /** Streams an upload into 1 MiB rows under an upload id; it becomes the object only when whole. */
  async receive(key: string, size: number, body: IncomingMessage): Promise<{ received: number; stored: boolean }> {
    const uploadId = randomBytes(12).toString('hex');
    let received = 0;
    let idx = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const data = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      for (let at = 0; at < data.length; at += CHUNK) await this.writeChunk(uploadId, idx++, data.subarray(at, at + CHUNK));
    };
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        received += chunk.length;
        // Cut off at the first byte past the declared size: nothing more is read or kept.
        if (received > size) return done(new TooLarge());
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < CHUNK) return done();
        // Whole rows only; the rest waits for more bytes (or the end).
        const data = Buffer.concat(pending);
        const whole = data.length - (data.length % CHUNK);
        pending = whole < data.length ? [data.subarray(whole)] : [];
        pendingBytes = data.length - whole;
        const rows = data.subarray(0, whole);
        void (async () => {
          for (let at = 0; at < rows.length; at += CHUNK) await this.writeChunk(uploadId, idx++, rows.subarray(at, at + CHUNK));
        })().then(() => done(), done);
      },
      final: (done) => void flush().then(() => done(), done),
    });
    try {
      await pipeline(body, sink);
    } catch (err) {
      await this.dropChunks([uploadId]).catch(() => {});
      throw err;
    }
    const stored = received === size && (await this.commit(key, uploadId, size));
    if (!stored) await this.dropChunks([uploadId]).catch(() => {});
    return { received, stored };
  }
}
