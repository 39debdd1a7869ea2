import { execFileSync } from 'node:child_process';
import {
  createDecipheriv,
  createECDH,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  verify,
  type ECDH,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

/*
 * Stand-ins for the push services, over real TLS: one HTTPS server (HTTP/2, HTTP/1.1 too)
 * with a certificate from a test CA that the server process trusts through
 * NODE_EXTRA_CA_CERTS, so the server talks to it exactly as to the real services.
 * Each check a real service makes is made here, and what fails is recorded in
 * `problems` for the test to assert on:
 * - Web Push: decrypts the body with the subscription's private key (RFC 8291) and
 *   verifies the VAPID JWT (RFC 8292) against the server's public key.
 * - APNs: HTTP/2 only; verifies the ES256 provider token with the .p8's public key, the
 *   path, topic and headers.
 * - FCM: the OAuth token endpoint verifies the RS256 assertion; the send endpoint checks
 *   the access token it issued and the message's shape.
 */

/** Why these tests cannot run here, or null. */
export function opensslMissing(): string | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'the openssl command is not installed (needed to make the test CA)';
  }
}

export interface TestCa {
  dir: string;
  caFile: string;
  key: string;
  cert: string;
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-push-ca-'));
  const f = (name: string) => path.join(dir, name);
  const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=switchboard test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run('req', ...ec, '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run(
    'x509',
    '-req',
    '-in',
    f('srv.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('srv.pem'),
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
  );
  return { dir, caFile: f('ca.pem'), key: readFileSync(f('srv.key'), 'utf8'), cert: readFileSync(f('srv.pem'), 'utf8') };
}

export interface Received {
  provider: 'webpush' | 'apns' | 'fcm';
  /** The subscription id, the APNs device token or the FCM registration token. */
  id: string;
  /** The push's payload as the app would see it (decrypted, parsed). */
  payload: Record<string, any>;
  headers: Record<string, string | string[] | undefined>;
  /** Everything the real service would have refused. Empty for a good push. */
  problems: string[];
  /** The status this fake answered. */
  status: number;
  /** When the request arrived (ms). */
  at: number;
  /** Web Push: the VAPID JWT's `sub` claim. */
  vapidSub?: string;
}

export interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Answer only once this settles (a provider that hangs). */
  hold?: Promise<void>;
}

interface Subscription {
  ecdh: ECDH;
  auth: Buffer;
}

export const FCM_PROJECT = 'sb-test-project';

export class FakePushServices {
  readonly received: Received[] = [];
  /** Answers to give, in order, per id; then 2xx. */
  readonly script = new Map<string, Scripted[]>();
  /** FCM token requests seen (the sender should reuse its token). */
  tokenRequests = 0;
  /** Push requests that arrived and are not answered yet. */
  pending = 0;
  /** The VAPID `sub` of each held Web Push request (tells which server sent it). */
  readonly heldFrom: string[] = [];
  /** The server's VAPID public key, as GET /v1/push/webpush gives it: set by the test. */
  vapidPublicKey = '';
  readonly apnsKeyFile: string;
  readonly fcmAccountFile: string;
  readonly apnsKeyId = 'KEYID12345';
  readonly apnsTeamId = 'TEAMID6789';
  readonly apnsTopic = 'org.switchboard.test';
  private readonly apnsPublic: KeyObject;
  private readonly fcmPublic: KeyObject;
  private readonly fcmEmail = 'push@sb-test-project.iam.gserviceaccount.com';
  private readonly issuedTokens = new Set<string>();
  private readonly subscriptions = new Map<string, Subscription>();
  private waiters: { pred: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];

  private constructor(
    private readonly server: Http2SecureServer,
    readonly port: number,
    dir: string,
  ) {
    const apns = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.apnsPublic = apns.publicKey;
    this.apnsKeyFile = path.join(dir, 'AuthKey.p8');
    writeFileSync(this.apnsKeyFile, apns.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const fcm = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.fcmPublic = fcm.publicKey;
    this.fcmAccountFile = path.join(dir, 'service-account.json');
    writeFileSync(
      this.fcmAccountFile,
      JSON.stringify({
        type: 'service_account',
        project_id: FCM_PROJECT,
        client_email: this.fcmEmail,
        private_key: fcm.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        token_uri: `${this.origin}/token`,
      }),
    );
  }

  get origin(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  static async start(ca: TestCa): Promise<FakePushServices> {
    const box: { self?: FakePushServices } = {};
    const server = createSecureServer({ key: ca.key, cert: ca.cert, allowHTTP1: true }, (req, res) => void box.self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    box.self = new FakePushServices(server, (server.address() as { port: number }).port, ca.dir);
    return box.self;
  }

  /** The server env that points every provider here. */
  env(): Record<string, string> {
    return {
      WEBPUSH_ALLOWED_ENDPOINTS: `${this.origin}/wp/`,
      APNS_URL: this.origin,
      APNS_KEY_FILE: this.apnsKeyFile,
      APNS_KEY_ID: this.apnsKeyId,
      APNS_TEAM_ID: this.apnsTeamId,
      APNS_TOPIC: this.apnsTopic,
      FCM_URL: this.origin,
      FCM_SERVICE_ACCOUNT_FILE: this.fcmAccountFile,
    };
  }

  /** A browser's subscription on this Web Push service: its own key pair and auth secret. */
  newSubscription(): { endpoint: string; keys: { p256dh: string; auth: string }; id: string } {
    const id = randomBytes(9).toString('base64url');
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.subscriptions.set(id, { ecdh, auth });
    return {
      id,
      endpoint: `${this.origin}/wp/${id}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
    };
  }

  pushesTo(id: string): Received[] {
    return this.received.filter((r) => r.id === id);
  }

  /** Waits for a push (already received or to come) matching pred. */
  waitFor(pred: (r: Received) => boolean, timeoutMs = 10_000, label = 'push'): Promise<Received> {
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(`timed out waiting for ${label}; received: ${JSON.stringify(this.received.map((r) => [r.provider, r.id, r.status]))}`),
        );
      }, timeoutMs);
      const waiter = {
        pred,
        resolve: (r: Received) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Sessions the server under test keeps open would hold close() forever.
      setTimeout(resolve, 500).unref();
    });
  }

  private answer(id: string): Scripted {
    return this.script.get(id)?.shift() ?? { status: 0 };
  }

  private record(r: Received): void {
    this.received.push(r);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(r)) return true;
      w.resolve(r);
      return false;
    });
  }

  private async handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Promise<void> {
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '';
    const reply = async (s: Scripted, fallback: number, fallbackBody?: unknown) => {
      if (s.hold) {
        this.pending++;
        await s.hold;
        this.pending--;
      }
      const status = s.status || fallback;
      const text = s.body === undefined ? (fallbackBody === undefined ? '' : JSON.stringify(fallbackBody)) : JSON.stringify(s.body);
      (res as ServerResponse).writeHead(status, { 'content-type': 'application/json', ...s.headers });
      res.end(text);
      return status;
    };
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && (m = /^\/wp\/([\w-]+)$/.exec(url))) {
      const problems: string[] = [];
      const { payload, sub } = this.checkWebPush(m[1]!, req.headers, body, problems);
      const answer = this.answer(m[1]!);
      if (answer.hold) this.heldFrom.push(sub);
      const status = await reply(answer, 201);
      this.record({ provider: 'webpush', id: m[1]!, payload, headers: req.headers, problems, status, at, vapidSub: sub });
    } else if (req.method === 'POST' && (m = /^\/3\/device\/([0-9a-f]+)$/.exec(url))) {
      const problems: string[] = [];
      if (req.httpVersion !== '2.0') problems.push(`APNs is HTTP/2 only; got HTTP/${req.httpVersion}`);
      const payload = this.checkApns(req.headers, body, problems);
      const s = this.answer(m[1]!);
      const status = await reply(s, 200);
      this.record({ provider: 'apns', id: m[1]!, payload, headers: req.headers, problems, status, at });
    } else if (req.method === 'POST' && url === '/token') {
      this.tokenRequests++;
      const form = new URLSearchParams(body.toString('utf8'));
      const problems: string[] = [];
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') problems.push('grant_type');
      const claims = verifyJwt(form.get('assertion') ?? '', 'RS256', this.fcmPublic, problems);
      if (claims) {
        if (claims.iss !== this.fcmEmail) problems.push('assertion iss');
        if (claims.aud !== `${this.origin}/token`) problems.push('assertion aud');
        if (claims.scope !== 'https://www.googleapis.com/auth/firebase.messaging') problems.push('assertion scope');
        if (!(claims.exp > Date.now() / 1000 && claims.exp - claims.iat <= 3600)) problems.push('assertion exp');
      }
      if (problems.length > 0) {
        await reply({ status: 400, body: { error: 'invalid_grant', error_description: problems.join(', ') } }, 400);
        return;
      }
      const token = `ya29.${randomBytes(12).toString('base64url')}`;
      this.issuedTokens.add(token);
      await reply({ status: 200 }, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    } else if (req.method === 'POST' && url === `/v1/projects/${FCM_PROJECT}/messages:send`) {
      const problems: string[] = [];
      const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
      if (!auth || !this.issuedTokens.has(auth[1]!)) problems.push('access token not issued by the token endpoint');
      let message: any = {};
      try {
        message = JSON.parse(body.toString('utf8')).message ?? {};
      } catch {
        problems.push('body is not JSON');
      }
      if (typeof message.token !== 'string') problems.push('message.token');
      if (message.android?.priority !== 'high') problems.push('android.priority');
      if (typeof message.android?.collapse_key !== 'string') problems.push('android.collapse_key');
      const data = message.data ?? {};
      for (const [k, v] of Object.entries(data)) if (typeof v !== 'string') problems.push(`data.${k} is not a string`);
      const id = String(message.token);
      const status = await reply(this.answer(id), 200, { name: `projects/${FCM_PROJECT}/messages/${randomBytes(6).toString('hex')}` });
      this.record({
        provider: 'fcm',
        id,
        payload: { ...data, collapse_key: message.android?.collapse_key },
        headers: req.headers,
        problems,
        status,
        at,
      });
    } else {
      await reply({ status: 404 }, 404);
    }
  }

  private checkWebPush(
    id: string,
    headers: Record<string, any>,
    body: Buffer,
    problems: string[],
  ): { payload: Record<string, any>; sub: string } {
    let vapidSub = '';
    const sub = this.subscriptions.get(id);
    if (!sub) {
      problems.push('unknown subscription');
      return { payload: {}, sub: vapidSub };
    }
    if (headers['content-encoding'] !== 'aes128gcm') problems.push(`content-encoding ${headers['content-encoding']}`);
    if (!/^\d+$/.test(String(headers.ttl ?? ''))) problems.push('TTL header');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(String(headers.topic ?? ''))) problems.push('Topic header');
    const vapid = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(String(headers.authorization ?? ''));
    if (!vapid) problems.push('Authorization is not "vapid t=…, k=…"');
    else {
      if (vapid[2] !== this.vapidPublicKey) problems.push('VAPID k is not the key GET /v1/push/webpush gives');
      const point = Buffer.from(vapid[2]!, 'base64url');
      const key = createPublicKey({
        key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') },
        format: 'jwk',
      });
      const claims = verifyJwt(vapid[1]!, 'ES256', key, problems);
      if (claims) {
        if (claims.aud !== this.origin) problems.push(`VAPID aud ${claims.aud}`);
        if (!(claims.exp > Date.now() / 1000 && claims.exp <= Date.now() / 1000 + 24 * 3600)) problems.push('VAPID exp');
        if (!/^(mailto:|https:)/.test(String(claims.sub))) problems.push('VAPID sub');
        vapidSub = String(claims.sub);
      }
    }
    try {
      return { payload: JSON.parse(decryptAes128gcm(body, sub.ecdh, sub.auth).toString('utf8')), sub: vapidSub };
    } catch (err) {
      problems.push(`cannot decrypt: ${(err as Error).message}`);
      return { payload: {}, sub: vapidSub };
    }
  }

  private checkApns(headers: Record<string, any>, body: Buffer, problems: string[]): Record<string, any> {
    const auth = /^bearer (.+)$/.exec(String(headers.authorization ?? ''));
    if (!auth) problems.push('authorization is not "bearer JWT"');
    else {
      const claims = verifyJwt(auth[1]!, 'ES256', this.apnsPublic, problems, (h) => {
        if (h.kid !== this.apnsKeyId) problems.push('JWT kid');
      });
      if (claims) {
        if (claims.iss !== this.apnsTeamId) problems.push('JWT iss');
        if (!(typeof claims.iat === 'number' && Math.abs(claims.iat - Date.now() / 1000) < 3600)) problems.push('JWT iat');
      }
    }
    if (headers['apns-topic'] !== this.apnsTopic) problems.push('apns-topic');
    if (headers['apns-push-type'] !== 'alert') problems.push('apns-push-type');
    if (!headers['apns-collapse-id'] || Buffer.byteLength(String(headers['apns-collapse-id'])) > 64) problems.push('apns-collapse-id');
    try {
      const json = JSON.parse(body.toString('utf8'));
      if (json.aps?.['mutable-content'] !== 1 || typeof json.aps?.alert !== 'object') problems.push('aps');
      return json;
    } catch {
      problems.push('body is not JSON');
      return {};
    }
  }
}

/** Checks a compact JWS; answers its claims, or null (with the reason in problems). */
function verifyJwt(
  jwt: string,
  alg: 'ES256' | 'RS256',
  key: KeyObject,
  problems: string[],
  checkHeader?: (h: Record<string, any>) => void,
): Record<string, any> | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) {
    problems.push('not a JWT');
    return null;
  }
  const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  if (header.alg !== alg) problems.push(`JWT alg ${header.alg}`);
  checkHeader?.(header);
  const ok = verify(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
    Buffer.from(parts[2]!, 'base64url'),
  );
  if (!ok) {
    problems.push(`${alg} signature does not verify`);
    return null;
  }
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
}

/**
 * The receiving side of RFC 8291 (one record, as a push payload is): the header carries
 * the salt, record size and the sender's ephemeral public key; the keys come from ECDH
 * with the subscription's private key and its auth secret through HKDF-SHA-256.
 */
export function decryptAes128gcm(body: Buffer, ua: ECDH, auth: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  const secret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.getPublicKey(), asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', secret, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error('no last-record padding delimiter');
  return plain.subarray(0, end);
}
