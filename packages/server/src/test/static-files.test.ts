import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createStaticFiles } from '../gateway/static-files.js';
import { http, startTestServer, tempDir } from '../testing/harness.js';

/*
 * The web client's files as the server serves them (gateway/static-files.ts), on a made-up
 * build: caching per kind of file, content types, SPA fallback, no way out of the root, and
 * a missing build that leaves the server running.
 */

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request as written (node's client does not normalise `..` the way fetch does). */
function raw(port: number, rawPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(dir: string): Promise<{ server: Server; port: number }> {
  const files = createStaticFiles(dir);
  const server = createServer((req, res) => void files.serve(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

describe('web client files', () => {
  it('serves a build with the right caching, types and fallback, and nothing outside it', async () => {
    const root = tempDir('switchboard-web-');
    const dir = path.join(root, 'app');
    mkdirSync(path.join(dir, 'assets'), { recursive: true });
    writeFileSync(path.join(root, 'secret.txt'), 'do not serve me');
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc123.js"></script>');
    writeFileSync(path.join(dir, 'assets/index-abc123.js'), `console.log(${JSON.stringify('x'.repeat(4000))});`);
    writeFileSync(path.join(dir, 'assets/index-abc123.css'), 'body{}');
    writeFileSync(path.join(dir, 'robots.txt'), 'User-agent: *');
    writeFileSync(path.join(dir, 'sw.js'), "self.addEventListener('push', () => {});");
    const { server, port } = await serve(dir);
    try {
      const index = await raw(port, '/');
      assert.equal(index.status, 200);
      assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(index.headers['cache-control'], 'no-cache');
      assert.ok(index.headers['content-security-policy']);

      const js = await raw(port, '/assets/index-abc123.js', { 'accept-encoding': 'gzip' });
      assert.equal(js.status, 200);
      assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(js.headers['content-encoding'], 'gzip');
      assert.match(gunzipSync(js.body).toString(), /^console\.log/);
      const again = await raw(port, '/assets/index-abc123.js', { 'if-none-match': String(js.headers.etag) });
      assert.equal(again.status, 304);

      assert.equal((await raw(port, '/assets/index-abc123.css')).headers['content-type'], 'text/css; charset=utf-8');
      const robots = await raw(port, '/robots.txt');
      assert.equal(robots.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(robots.headers['cache-control'], 'public, max-age=3600');
      // The service worker: a script, never cached without a check (browsers compare it on every registration).
      const sw = await raw(port, '/sw.js');
      assert.equal(sw.status, 200);
      assert.equal(sw.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(sw.headers['cache-control'], 'no-cache');

      // Client-side routes get the app; a missing asset is a plain 404, not HTML.
      const route = await raw(port, '/chat/dm%3A1%3A2?seq=4');
      assert.equal(route.status, 200);
      assert.deepEqual(route.body, index.body);
      assert.equal(route.headers['cache-control'], 'no-cache');
      assert.equal((await raw(port, '/assets/index-gone.js')).status, 404);

      for (const p of [
        '/../secret.txt',
        '/%2e%2e/secret.txt',
        '/assets/..%2f..%2fsecret.txt',
        '/..%5csecret.txt',
        '/%2e%2e%2fsecret.txt',
      ]) {
        const res = await raw(port, p);
        assert.ok(!res.body.toString().includes('do not serve me'), `${p} left the root`);
      }
      assert.equal((await raw(port, '/assets/%00.js')).status, 400);
      assert.equal((await raw(port, '/', {}, 'POST')).status, 405);
      const head = await raw(port, '/', {}, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
    } finally {
      server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('without a build the server still starts and serves its API', async () => {
    const files = createStaticFiles(path.join(tempDir('switchboard-noweb-'), 'missing'));
    assert.equal(files.available, false);
    const { server, port } = await serve(files.dir);
    try {
      const res = await raw(port, '/');
      assert.equal(res.status, 404);
      assert.match(res.body.toString(), /not built/);
    } finally {
      server.close();
    }
    // The real server (whatever the web build) answers its API routes before any file.
    const srv = await startTestServer();
    try {
      assert.equal((await http(srv.baseUrl, 'GET', '/healthz')).body.status, 'ok');
      assert.equal((await http(srv.baseUrl, 'GET', '/v1/chats')).status, 401);
      assert.equal((await http(srv.baseUrl, 'GET', '/v1/no-such-route')).body.error, 'not_found');
    } finally {
      await srv.stop();
    }
  });
});
