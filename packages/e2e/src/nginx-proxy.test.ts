import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { directChatId, type SessionView } from '@switchboard/protocol';
import { freePort, sleep, type ServerProcess } from '@switchboard/server/testing';
import {
  clusterServicesMissing,
  freshPgSchema,
  startNode,
  startRedis,
  testPrefix,
  type TestRedis,
} from '@switchboard/server/testing/cluster';
import { SwitchboardClient, type FetchLike, type NewMessageEvent } from '@switchboard/client';

/*
 * Behind a real proxy: Debian's nginx, configured from the shipped docs/deploy/nginx.conf
 * (only ports, paths and the certificate changed), terminating TLS with a self-signed
 * certificate made here, in front of three cluster nodes started with TRUST_PROXY=1. The
 * SDK gets service through it (login, socket, send and receive, a file), per-address limits
 * count the address nginx saw (not the proxy's, not one the client claims), and a node
 * killed behind it is routed around: its clients are back and sending within 10 s.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SHIPPED = path.join(repoRoot, 'docs/deploy/nginx.conf');

function nginxBinary(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    if (dir && existsSync(path.join(dir, 'nginx'))) return path.join(dir, 'nginx');
  }
  return null;
}

/** Why this suite cannot run here, or null; SWITCHBOARD_REQUIRE_SERVICES=1 turns a reason into a failure. */
async function missingHere(): Promise<string | null> {
  const cluster = await clusterServicesMissing();
  if (cluster) return cluster;
  let reason: string | null = null;
  if (!nginxBinary()) reason = 'nginx is not installed (apt-get install -y nginx)';
  else if (spawnSync('openssl', ['version']).status !== 0) reason = 'openssl is not installed';
  if (reason && process.env.SWITCHBOARD_REQUIRE_SERVICES === '1') throw new Error(`${reason}; SWITCHBOARD_REQUIRE_SERVICES=1 requires it`);
  if (reason) console.log(`# skipping the nginx tests: ${reason}`);
  return reason;
}
const missing = await missingHere();

/**
 * The shipped configuration with this test's ports, certificate and node ports, wrapped in
 * a main configuration of its own (prefix, pid, logs and temp files in `dir`).
 */
function nginxConfig(dir: string, ports: { tls: number; plain: number; nodes: number[] }): string {
  let site = readFileSync(SHIPPED, 'utf8');
  const swap = (re: RegExp, to: string | ((...m: string[]) => string), times: number) => {
    let n = 0;
    site = site.replace(re, (...m: string[]) => (n++, typeof to === 'string' ? to : to(...m)));
    assert.equal(n, times, `docs/deploy/nginx.conf: ${re} matched ${n} times, expected ${times}`);
  };
  let node = 0;
  swap(/^(\s*)server 127\.0\.0\.1:\d+ (.*);$/gm, (_m, indent, rest) => `${indent}server 127.0.0.1:${ports.nodes[node++]} ${rest};`, 3);
  swap(/^\s*listen \[::\]:\d+.*;$/gm, '', 2); // the test machine may have no IPv6
  swap(/^(\s*)listen 443 ssl;$/gm, (_m, indent) => `${indent}listen 127.0.0.1:${ports.tls} ssl;`, 1);
  swap(/^(\s*)listen 80;$/gm, (_m, indent) => `${indent}listen 127.0.0.1:${ports.plain};`, 1);
  swap(/^(\s*)ssl_certificate (\s*)\S+;$/gm, (_m, indent, gap) => `${indent}ssl_certificate ${gap}${dir}/cert.pem;`, 1);
  swap(/^(\s*)ssl_certificate_key \S+;$/gm, (_m, indent) => `${indent}ssl_certificate_key ${dir}/key.pem;`, 1);
  // Run as root (a CI container), the workers would become "nobody" and could not use `dir`.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `${user}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`;
}

/** HTTPS that trusts the test's certificate, from a chosen loopback address (nginx sees it as the client's). */
function call(
  url: string,
  opts: { ca: Buffer; method?: string; headers?: Record<string, string>; body?: string | Buffer; from?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca, localAddress: opts.from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('behind nginx (TLS, three nodes, TRUST_PROXY=1)', { skip: missing ?? false }, () => {
  let dir: string;
  let ca: Buffer;
  let nginx: ChildProcess | undefined;
  let redis: TestRedis | undefined;
  let pg: { url: string; drop: () => Promise<void> } | undefined;
  const nodes: ServerProcess[] = [];
  const clients: SwitchboardClient[] = [];
  let base: string;
  let plainBase: string;
  const tag = Math.random().toString(36).slice(2, 8);

  const fetchTls: FetchLike = async (input, init) => {
    const res = await call(input, {
      ca,
      method: init?.method,
      headers: { ...init?.headers, ...(init?.body ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}) },
      body: init?.body,
    });
    return { status: res.status, ok: res.status >= 200 && res.status < 300, text: async () => res.text };
  };
  // ws's options carry the CA; the SDK constructs with (url) or (url, {headers}).
  class TlsWebSocket extends WebSocket {
    constructor(url: string, opts: { headers?: Record<string, string> } = {}) {
      super(url, { ...opts, ca });
    }
  }

  async function account(name: string): Promise<SessionView> {
    const username = `${name}${tag}`;
    await SwitchboardClient.register(base, { username, password: 'correct horse battery' }, { fetch: fetchTls });
    return SwitchboardClient.login(base, { username, password: 'correct horse battery' }, { fetch: fetchTls });
  }

  async function connected(session: SessionView): Promise<SwitchboardClient> {
    const client = SwitchboardClient.fromSession(base, session, {
      WebSocket: TlsWebSocket as never,
      fetch: fetchTls,
      backoff: { baseMs: 100, capMs: 1000 },
    });
    clients.push(client);
    await client.connect();
    return client;
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-nginx-'));
    const cert = spawnSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`],
      ],
      { stdio: 'pipe' },
    );
    assert.equal(cert.status, 0, `openssl: ${cert.stderr}`);
    ca = readFileSync(`${dir}/cert.pem`);
    const [tls, plain] = [await freePort(), await freePort()];
    base = `https://127.0.0.1:${tls}`;
    plainBase = `http://127.0.0.1:${plain}`;

    [redis, pg] = await Promise.all([startRedis(), freshPgSchema()]);
    const env = {
      TRUST_PROXY: '1',
      PUBLIC_WS_URL: `wss://127.0.0.1:${tls}/v1/ws`,
      PASSWORD_HASH_KIB: '64',
      // Small, so the test reaches it: failed logins per client address.
      LIMIT_LOGIN_FAILURES_ADDRESS: '3:0.01',
    };
    const prefix = testPrefix();
    const start = () => startNode({ redisUrl: redis!.url, databaseUrl: pg!.url, prefix, env });
    nodes.push(await start()); // the first migrates the schema
    nodes.push(...(await Promise.all([start(), start()])));

    writeFileSync(`${dir}/nginx.conf`, nginxConfig(dir, { tls, plain, nodes: nodes.map((n) => n.port) }));
    const bin = nginxBinary()!;
    const check = spawnSync(bin, ['-t', '-p', dir, '-c', `${dir}/nginx.conf`, '-e', `${dir}/error.log`], { stdio: 'pipe' });
    assert.equal(check.status, 0, `nginx -t: ${check.stderr}`);
    nginx = spawn(bin, ['-p', dir, '-c', `${dir}/nginx.conf`, '-e', `${dir}/error.log`], { stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await call(`${base}/healthz`, { ca }).catch(() => null);
      if (up?.status === 200) break;
      if (nginx.exitCode !== null || Date.now() > deadline)
        throw new Error(`nginx did not come up: ${readFileSync(`${dir}/error.log`, 'utf8')}`);
      await sleep(50);
    }
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve));
      nginx.kill('SIGQUIT'); // graceful: the master takes its workers with it
      await Promise.race([exited, sleep(5000)]);
      if (nginx.exitCode === null) nginx.kill('SIGKILL');
    }
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
    await pg?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a client gets service through it: login, the socket over wss, send and receive, a file; plain HTTP is sent to HTTPS', async () => {
    const redirect = await new Promise<{ status: number; location?: string }>((resolve, reject) => {
      httpRequest(`${plainBase}/v1/chats`, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      })
        .on('error', reject)
        .end();
    });
    assert.equal(redirect.status, 301);
    assert.match(redirect.location ?? '', /^https:\/\//);

    const [alice, bob] = [await account('alice'), await account('bob')];
    assert.equal(alice.ws_url, `${base.replace('https', 'wss')}/v1/ws`, 'clients are told to connect through the proxy');
    const [ca1, cb1] = [await connected(alice), await connected(bob)];
    const chat = directChatId(alice.user_id, bob.user_id);
    const got = cb1.waitFor('message', { filter: (m: NewMessageEvent) => m.content === 'through nginx', timeoutMs: 5000 });
    const ack = await ca1.send(chat, 'through nginx');
    assert.equal((await got).message_id, ack.message_id);
    const back = ca1.waitFor('message', { filter: (m: NewMessageEvent) => m.content === 'and back', timeoutMs: 5000 });
    await cb1.send(chat, 'and back');
    await back;

    // A file: the upload URL the server hands out (from Host and X-Forwarded-Proto) is this proxy's.
    const bytes = Buffer.from('a file through the proxy\n');
    const created = await call(`${base}/v1/media`, {
      ca,
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content_type: 'text/plain', size: bytes.length, filename: 'note.txt' }),
    });
    assert.equal(created.status, 201, created.text);
    const upload = JSON.parse(created.text) as {
      media_id: string;
      upload_url: string;
      upload_method: string;
      upload_headers: Record<string, string>;
    };
    assert.ok(upload.upload_url.startsWith(`${base}/`), `upload_url ${upload.upload_url} goes through the proxy`);
    const put = await call(upload.upload_url, { ca, method: upload.upload_method, headers: upload.upload_headers, body: bytes });
    assert.ok(put.status >= 200 && put.status < 300, `upload: ${put.status} ${put.text}`);
    const withFile = cb1.waitFor('message', { filter: (m: NewMessageEvent) => m.content === 'a file', timeoutMs: 5000 });
    await ca1.send(chat, 'a file', { attachments: [{ media_id: upload.media_id }] });
    assert.equal((await withFile).attachments?.[0]?.media_id, upload.media_id);
    let fetched = await call(`${base}/v1/media/${upload.media_id}`, { ca, headers: { authorization: `Bearer ${bob.token}` } });
    if (fetched.status === 302) fetched = await call(String(fetched.headers.location), { ca });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.text, bytes.toString());

    // Server-Sent Events go through unbuffered, when this server serves them.
    const sse = await sseFirstEvent(`${base}/v1/events`, alice.token);
    if (sse === null) console.log('# GET /v1/events is not served by this server: SSE through nginx not checked');
    else assert.match(sse, /"type":"stream"/, 'the first event arrives at once');
  });

  /** The first `data:` line of an event stream within 3 s, or null when the server answers 404. */
  function sseFirstEvent(url: string, token: string): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode === 404) {
          res.resume();
          return resolve(null);
        }
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/events: ${res.statusCode}`));
        let text = '';
        const timer = setTimeout(() => (req.destroy(), reject(new Error(`no event within 3 s through nginx: ${text}`))), 3000);
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          const line = text.split('\n').find((l) => l.startsWith('data:'));
          if (line) {
            clearTimeout(timer);
            req.destroy();
            resolve(line);
          }
        });
      });
      req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
    });
  }

  test('limits count the address nginx saw: each client address has its own bucket, and a claimed X-Forwarded-For changes nothing', async () => {
    const fail = (from: string, headers: Record<string, string> = {}) =>
      call(`${base}/v1/sessions`, {
        ca,
        from,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        // A different unknown user each time: only the per-address bucket fills.
        body: JSON.stringify({ username: `nobody${Math.random().toString(36).slice(2, 10)}`, password: 'wrong password' }),
      });
    for (let i = 0; i < 3; i++) assert.equal((await fail('127.0.0.2')).status, 401);
    const limited = await fail('127.0.0.2');
    assert.equal(limited.status, 429, limited.text);
    assert.ok(limited.headers['retry-after'], 'Retry-After');
    // Claiming another address does not buy a fresh bucket: nginx appends the one it saw.
    assert.equal((await fail('127.0.0.2', { 'x-forwarded-for': '203.0.113.9' })).status, 429);
    // Another client address (all of them reach nginx, never a node, directly) is not limited.
    assert.equal((await fail('127.0.0.3')).status, 401);
    assert.equal((await fail('127.0.0.3', { 'x-forwarded-for': '127.0.0.2' })).status, 401);
  });

  test('a node killed behind nginx is routed around: its clients are back and sending within 10 s', async () => {
    // Twelve clients in six pairs; nginx spreads their sockets over the three nodes.
    const sessions = await Promise.all(Array.from({ length: 12 }, (_, i) => account(`kill${i}_`)));
    const live = await Promise.all(sessions.map((s) => connected(s)));
    const partner = (i: number) => (i % 2 === 0 ? i + 1 : i - 1);
    const dropped = new Set<number>();
    live.forEach((c, i) => c.on('disconnected', () => dropped.add(i)));
    const victim = nodes[1]!;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');

    // Whoever was on the dead node reconnects through nginx and sends; its partner gets it.
    await sleep(500);
    const back = await Promise.all(
      live.map(async (c, i) => {
        const other = live[partner(i)]!;
        const text = `after the kill from ${i}`;
        const got = other.waitFor('message', { filter: (m: NewMessageEvent) => m.content === text, timeoutMs: 10_000 });
        await c.send(directChatId(sessions[i]!.user_id, sessions[partner(i)]!.user_id), text);
        await got;
        return Date.now() - killedAt;
      }),
    );
    const slowest = Math.max(...back);
    console.log(
      `# ${dropped.size} of 12 clients were on the killed node; every client sent and was heard, the slowest ${slowest} ms after the kill`,
    );
    assert.ok(dropped.size >= 1, 'some clients were on the killed node');
    assert.ok(slowest < 10_000, `routed around within 10 s (slowest ${slowest} ms)`);
    // And plain HTTP through nginx is served by the live nodes every time.
    for (let i = 0; i < 6; i++) assert.equal((await call(`${base}/healthz`, { ca })).status, 200);
  });
});
