import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { MediaStore } from './media-store.js';

/*
 * The contract every media store keeps (media-store.ts), exercised over real HTTP
 * against its URLs, as a client uses them.
 */

export interface OpenedMediaStore {
  store: MediaStore;
  /** What to pass as baseUrl (embedded URLs point back at a server answering store.handle). */
  baseUrl: string;
  /** s3rver does not check signed headers, so it cannot refuse a wrong length (README "Media"). */
  enforcesSize: boolean;
  cleanup(): Promise<void>;
}

/** A store whose URLs point at this server (local, PostgreSQL), answered over real HTTP as the gateway answers them. */
export async function servedByHttp(store: MediaStore, cleanup: () => Promise<void>): Promise<OpenedMediaStore> {
  const http = createServer((req, res) => {
    void store.handle!(req, res, new URL(req.url ?? '/', 'http://x')).then((mine) => {
      if (!mine) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as { port: number };
  return {
    store,
    baseUrl: `http://127.0.0.1:${port}`,
    enforcesSize: true,
    cleanup: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await cleanup();
    },
  };
}

let n = 0;
const key = () => `k${process.pid}x${++n}x${randomBytes(4).toString('hex')}`;

export function runMediaStoreContract(name: string, open: () => Promise<OpenedMediaStore>): void {
  describe(`media store contract: ${name}`, () => {
    let s: OpenedMediaStore;
    before(async () => {
      s = await open();
    });
    after(async () => {
      await s?.store.close();
      await s?.cleanup();
    });

    async function put(k: string, bytes: Buffer, size = bytes.length, expiresAt = Date.now() + 60_000) {
      const target = await s.store.uploadTarget(k, { contentType: 'application/octet-stream', size, expiresAt, baseUrl: s.baseUrl });
      assert.equal(target.method, 'PUT');
      return fetch(target.url, { method: target.method, headers: target.headers, body: bytes }).catch(() => null);
    }

    test('an upload of the declared size is stored whole and read back, whole and by range', async () => {
      const k = key();
      const bytes = randomBytes(300_000);
      assert.equal(await s.store.stat(k), null);
      const res = await put(k, bytes);
      assert.ok(res?.ok, `upload: ${res?.status}`);
      assert.equal(await s.store.stat(k), bytes.length);
      const chunks: Buffer[] = [];
      for await (const c of await s.store.read(k, { start: 10, end: 19 })) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(bytes.subarray(10, 20)));
      const copy = await s.store.withFile(k, async (file) => (await import('node:fs/promises')).readFile(file));
      assert.ok(copy.equals(bytes));
    });

    test("withFile's copy of a remote object is readable by this user only (0600 in a 0700 folder), and removed after", async () => {
      const k = key();
      assert.ok((await put(k, randomBytes(1000)))?.ok);
      const { stat } = await import('node:fs/promises');
      const path = await import('node:path');
      const seen = await s.store.withFile(k, async (file) => ({
        file,
        mode: (await stat(file)).mode & 0o777,
        dir: (await stat(path.dirname(file))).mode & 0o777,
      }));
      if (s.store.kind !== 'local') {
        // The local store hands over the object itself, under DATA_DIR.
        assert.equal(seen.mode.toString(8), '600');
        assert.equal(seen.dir.toString(8), '700');
        await assert.rejects(stat(seen.file), 'the copy is gone');
      }
    });

    test('a download URL serves the bytes with the given type and disposition, honouring Range', async () => {
      const k = key();
      const bytes = randomBytes(5000);
      assert.ok((await put(k, bytes))?.ok);
      const url = await s.store.downloadUrl(k, {
        contentType: 'text/html',
        disposition: 'attachment',
        expiresAt: Date.now() + 60_000,
        baseUrl: s.baseUrl,
      });
      const whole = await fetch(url);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get('content-type'), 'text/html');
      assert.equal(whole.headers.get('content-disposition'), 'attachment');
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes));
      const part = await fetch(url, { headers: { range: 'bytes=4990-' } });
      assert.equal(part.status, 206);
      assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(4990)));
    });

    test('an expired upload URL stores nothing', async () => {
      const k = key();
      const res = await put(k, randomBytes(10), 10, Date.now() + 1000);
      assert.ok(res?.ok);
      const late = key();
      const target = await s.store.uploadTarget(late, {
        contentType: 'text/plain',
        size: 10,
        expiresAt: Date.now() + 1000,
        baseUrl: s.baseUrl,
      });
      await new Promise((r) => setTimeout(r, 2100));
      const refused = await fetch(target.url, { method: 'PUT', headers: target.headers, body: randomBytes(10) });
      assert.ok(refused.status >= 400);
      assert.equal(await s.store.stat(late), null);
    });

    test('an upload of the wrong length leaves no object', { skip: false }, async (t) => {
      if (!s.enforcesSize) {
        t.skip('this store does not check the signed length (s3rver)');
        return;
      }
      const long = key();
      const res = await put(long, randomBytes(2000), 1000);
      assert.ok(!res?.ok);
      assert.equal(await s.store.stat(long), null);
      const short = key();
      assert.ok(!(await put(short, randomBytes(10), 1000))?.ok);
      assert.equal(await s.store.stat(short), null);
    });

    test('objects the server writes can be read and deleted; deleting a missing one is no error', async () => {
      const k = key();
      await s.store.put(k, Buffer.from('thumbnail'), 'image/png');
      assert.equal(await s.store.stat(k), 9);
      await s.store.delete([k, key()]);
      assert.equal(await s.store.stat(k), null);
    });
  });
}
