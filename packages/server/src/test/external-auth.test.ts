import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { loadConfig } from '../config.js';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, registerUser, sleep, suiteServer, TestSocket } from '../testing/harness.js';

/*
 * Signing in from the host app (PROTOCOL.md "Signing in from your own app"), embedded mode;
 * external-auth-cluster.test.ts runs the cluster side. Every token is minted here as a host
 * app would, with jose, and sent to a real server over HTTP.
 */

const SECRET = 'a host app secret of at least 32 bytes!';
const ISSUER = 'https://app.example.com';
const AUDIENCE = 'switchboard';
const key = new TextEncoder().encode(SECRET);

async function hs256(claims: Record<string, unknown>, opts: { exp?: number | string; iss?: string; aud?: string; key?: Uint8Array } = {}) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt();
  if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
  else jwt.setExpirationTime('5m');
  return jwt.sign(opts.key ?? key);
}

const assertionLogin = (baseUrl: string, assertion: string, deviceName?: string) =>
  http(baseUrl, 'POST', '/v1/sessions', { body: { assertion, device_name: deviceName } });

let subCounter = 0;
const freshSub = () => `app-user-${process.pid}-${Date.now()}-${++subCounter}`;

describe('assertion sign-in with AUTH_JWT_SECRET (HS256)', () => {
  const { srv } = suiteServer({ authJwtSecret: SECRET, authJwtIssuer: ISSUER, authJwtAudience: AUDIENCE });

  test('a valid token creates the user and signs in; the next one signs in the same user on another device', async () => {
    const sub = freshSub();
    const name = `pref_${subCounter}_${process.pid}`.slice(0, 32);
    const first = await assertionLogin(srv.baseUrl, await hs256({ sub, preferred_username: name, name: 'Ada Lovelace' }), 'phone');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    for (const k of ['token', 'user_id', 'device_id', 'ws_url']) assert.equal(typeof first.body[k], 'string', k);
    const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: first.body.token });
    assert.deepEqual(me.body, { user_id: first.body.user_id, username: name, display_name: 'Ada Lovelace' });
    const second = await assertionLogin(srv.baseUrl, await hs256({ sub }), 'laptop');
    assert.equal(second.status, 201);
    assert.equal(second.body.user_id, first.body.user_id, 'the same (iss, sub) is the same user');
    assert.notEqual(second.body.device_id, first.body.device_id, 'another device');
    const devices = await http(srv.baseUrl, 'GET', '/v1/devices', { token: second.body.token });
    assert.deepEqual((devices.body.devices as { name: string }[]).map((d) => d.name).sort(), ['laptop', 'phone']);
    // The token works on the socket too.
    const sock = await TestSocket.connect(srv.wsUrl, second.body.token);
    await sock.next('sync_complete', 10_000);
    sock.terminate();
  });

  test('a bad assertion is 401 invalid_credentials: wrong aud, wrong iss, expired, bad signature, no sub, no exp, alg none', async () => {
    const sub = freshSub();
    const unsigned = (payload: Record<string, unknown>) =>
      `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      ['wrong aud', await hs256({ sub }, { aud: 'someone-else' })],
      ['wrong iss', await hs256({ sub }, { iss: 'https://evil.example.com' })],
      ['expired past the 60 s skew', await hs256({ sub }, { exp: now - 120 })],
      ['bad signature', await hs256({ sub }, { key: new TextEncoder().encode('another secret of at least 32 bytes!!') })],
      ['missing sub', await hs256({})],
      ['missing exp', await new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(AUDIENCE).sign(key)],
      ['alg none', unsigned({ sub, iss: ISSUER, aud: AUDIENCE, exp: now + 300 })],
      ['not a JWT', 'not-a-jwt'],
    ];
    for (const [what, assertion] of cases) {
      const res = await assertionLogin(srv.baseUrl, assertion);
      assert.equal(res.status, 401, what);
      assert.equal(res.body.error, 'invalid_credentials', what);
    }
    // Expired within the allowed skew still signs in.
    assert.equal((await assertionLogin(srv.baseUrl, await hs256({ sub }, { exp: now - 30 }))).status, 201, 'expired 30 s ago');
  });

  test('a taken or invalid preferred_username gets a made-up valid username; a name with bidi controls loses them', async () => {
    const owner = await registerUser(srv.baseUrl, 'taken');
    const res = await assertionLogin(srv.baseUrl, await hs256({ sub: freshSub(), preferred_username: owner.username }));
    assert.equal(res.status, 201);
    const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: res.body.token });
    assert.notEqual(me.body.user_id, owner.user_id);
    assert.notEqual(me.body.username, owner.username);
    assert.match(me.body.username, /^[a-z0-9_.]{3,32}$/);
    const odd = await assertionLogin(
      srv.baseUrl,
      await hs256({ sub: `${freshSub()}/With Spaces!`, preferred_username: 'Not Valid!', name: 'evil\u202Egnp.exe' }),
    );
    assert.equal(odd.status, 201);
    const oddMe = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: odd.body.token });
    assert.match(oddMe.body.username, /^[a-z0-9_.]{3,32}$/);
    assert.equal(oddMe.body.display_name, 'evilgnp.exe');
  });

  test('a user of the app cannot sign in with a password', async () => {
    const name = `nopw_${subCounter}_${process.pid}`.slice(0, 32);
    assert.equal((await assertionLogin(srv.baseUrl, await hs256({ sub: freshSub(), preferred_username: name }))).status, 201);
    const res = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: name, password: 'external' } });
    assert.equal(res.status, 401);
  });
});

describe('assertion sign-in: failed assertions count against the address', () => {
  const { srv } = suiteServer({
    authJwtSecret: SECRET,
    authJwtIssuer: ISSUER,
    authJwtAudience: AUDIENCE,
    limits: {
      ...DEFAULT_LIMITS,
      registrations: { capacity: 1000, perSecond: 100 },
      loginFailuresAddress: { capacity: 3, perSecond: 1 / 600 },
    },
  });

  test('past the per-address failure limit even a good assertion is 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await assertionLogin(srv.baseUrl, 'bad.jwt.here')).status, 401);
    const res = await fetch(`${srv.baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ assertion: await hs256({ sub: freshSub() }) }),
    });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal(((await res.json()) as { error: string }).error, 'rate_limited');
  });
});

/** A host app's key endpoint: a node:http server serving a JWKS the test can change. */
async function jwksServer(): Promise<{ url: string; keys: JWK[]; fetches: () => number; close: () => void }> {
  const keys: JWK[] = [];
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/.well-known/jwks.json`, keys, fetches: () => fetches, close: () => server.close() };
}

async function es256Key(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(privateKey);
  return { jwk, sign };
}

describe('assertion sign-in with AUTH_JWKS_URL (ES256) and key rotation', () => {
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let url = '';
  before(async () => {
    jwks = await jwksServer();
    url = jwks.url;
  });
  after(() => jwks.close());
  // The URL is known only once the key server listens: a getter read when the suite's server starts.
  const overrides = {
    authJwtIssuer: ISSUER,
    authJwtAudience: AUDIENCE,
    get authJwksUrl() {
      return url;
    },
  };
  const { srv } = suiteServer(overrides);

  test('a token signed by the published key signs in; after rotation the new kid is fetched and works', async () => {
    const first = await es256Key('key-1');
    jwks.keys.push(first.jwk);
    const sub = freshSub();
    const a = await assertionLogin(srv.baseUrl, await first.sign({ sub }));
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const fetchedOnce = jwks.fetches();
    assert.ok(fetchedOnce >= 1);
    // Cached: another sign-in with the same key fetches nothing.
    assert.equal((await assertionLogin(srv.baseUrl, await first.sign({ sub }))).status, 201);
    assert.equal(jwks.fetches(), fetchedOnce, 'the key set is cached');
    // A key the server has never seen: refused while it is not published.
    const second = await es256Key('key-2');
    await sleep(1100); // past the refetch cooldown
    assert.equal((await assertionLogin(srv.baseUrl, await second.sign({ sub }))).status, 401, 'an unpublished key');
    // Rotation: the app publishes key-2; a token with that kid makes the server fetch again.
    jwks.keys.splice(0, jwks.keys.length, second.jwk);
    await sleep(1100);
    const b = await assertionLogin(srv.baseUrl, await second.sign({ sub }));
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.equal(b.body.user_id, a.body.user_id);
    assert.ok(jwks.fetches() > fetchedOnce + 1, 'the unknown kid was fetched');
    // An HS256 token is not accepted by a server without AUTH_JWT_SECRET, whatever it is signed with.
    assert.equal((await assertionLogin(srv.baseUrl, await hs256({ sub }))).status, 401);
  });
});

describe('PASSWORD_LOGIN=off', () => {
  const { srv } = suiteServer({ authJwtSecret: SECRET, authJwtIssuer: ISSUER, authJwtAudience: AUDIENCE, passwordLogin: false });

  test('username/password registration and login answer 403 forbidden; assertion sign-in works', async () => {
    const reg = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: 'pwoff_user', password: 'correct horse battery' } });
    assert.equal(reg.status, 403);
    assert.equal(reg.body.error, 'forbidden');
    const login = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: 'pwoff_user', password: 'correct horse battery' } });
    assert.equal(login.status, 403);
    assert.equal(login.body.error, 'forbidden');
    assert.equal((await assertionLogin(srv.baseUrl, await hs256({ sub: freshSub() }))).status, 201);
  });
});

describe('settings for assertion sign-in', () => {
  test('a secret or JWKS URL without both AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE, or a short secret, refuses to start', () => {
    assert.throws(() => loadConfig({}, { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER }), /AUTH_JWT_AUDIENCE/);
    assert.throws(() => loadConfig({}, { AUTH_JWKS_URL: 'https://app.example.com/jwks', AUTH_JWT_AUDIENCE: AUDIENCE }), /AUTH_JWT_ISSUER/);
    assert.throws(() => loadConfig({}, { AUTH_JWT_SECRET: 'short', AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE }), /32 bytes/);
    const ok = loadConfig({}, { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, PASSWORD_LOGIN: 'off' });
    assert.equal(ok.passwordLogin, false);
  });
});
