import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/*
 * The web client (packages/web, built by Vite) served at `/` by every node, embedded or
 * cluster. Hashed assets (Vite names them by content under /assets/) are immutable for a
 * year; index.html and the service worker (/sw.js) are `no-cache` so a deploy is picked up
 * at the next load. Any other
 * path that is not an API route answers index.html (the app routes in the browser).
 */

/** packages/web/dist/app, from packages/server/dist/gateway/. */
export const defaultWebDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web/dist/app');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.map', '.txt', '.svg']);

// The app talks only to its own origin, plus the ws_url a cluster hands out (any host).
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; " +
  "connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

interface Cached {
  mtimeMs: number;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
}

export interface StaticFiles {
  /** Whether the built app is there (index.html exists). */
  readonly available: boolean;
  readonly dir: string;
  /** Serves a GET/HEAD for a path that is not an API route. */
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createStaticFiles(dir: string = defaultWebDir): StaticFiles {
  const root = path.resolve(dir);
  const available = existsSync(path.join(root, 'index.html'));
  // The files change only with a deploy; mtime tells a rebuild apart.
  const cache = new Map<string, Cached>();

  const load = async (file: string): Promise<Cached | null> => {
    let st;
    try {
      st = await stat(file);
    } catch {
      return null;
    }
    if (!st.isFile()) return null;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === st.mtimeMs) return hit;
    const body = await readFile(file);
    const compress = COMPRESSIBLE.has(path.extname(file)) && body.length > 512;
    const entry = {
      mtimeMs: st.mtimeMs,
      body,
      gzip: compress ? gzipSync(body) : null,
      etag: `"${body.length.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
    };
    cache.set(file, entry);
    return entry;
  };

  const send = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const write = (req: IncomingMessage, res: ServerResponse, file: string, entry: Cached, cacheControl: string) => {
    const ext = path.extname(file);
    const headers: Record<string, string> = {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'cache-control': cacheControl,
      etag: entry.etag,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (ext === '.html') {
      headers['content-security-policy'] = CSP;
      headers['x-frame-options'] = 'DENY';
    }
    if (entry.gzip) headers.vary = 'Accept-Encoding';
    if (req.headers['if-none-match'] === entry.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = entry.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? entry.gzip! : entry.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return {
    available,
    dir: root,
    async serve(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, 405, { allow: 'GET, HEAD' }, 'method not allowed');
      if (!available) return send(req, res, 404, {}, 'the web client is not built: run npm run build');
      let pathname: string;
      try {
        pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        return send(req, res, 400, {}, 'malformed URL');
      }
      if (pathname.includes('\0') || pathname.includes('\\')) return send(req, res, 400, {}, 'bad path');
      // Resolved under the root or not served at all: `..` (however encoded) cannot leave it.
      const file = path.resolve(root, '.' + path.posix.normalize('/' + pathname));
      if (file !== root && !file.startsWith(root + path.sep)) return send(req, res, 404, {}, 'not found');
      const isHashedAsset = pathname.startsWith('/assets/');
      const entry = file === root ? null : await load(file);
      if (entry) {
        const cacheControl = isHashedAsset
          ? 'public, max-age=31536000, immutable'
          : file.endsWith('.html') || pathname === '/sw.js'
            ? 'no-cache'
            : 'public, max-age=3600';
        return write(req, res, file, entry, cacheControl);
      }
      // A missing asset is a 404, not the app's HTML (a script tag would choke on it).
      if (isHashedAsset || /\.(js|mjs|css|map|png|svg|ico|woff2|json|webmanifest|txt)$/.test(pathname))
        return send(req, res, 404, {}, 'not found');
      const index = path.join(root, 'index.html');
      const indexEntry = await load(index);
      if (!indexEntry) return send(req, res, 404, {}, 'not found');
      return write(req, res, index, indexEntry, 'no-cache');
    },
  };
}
