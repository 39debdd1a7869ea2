import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { http, pollUntil, suiteServer, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';
import { ADMIN_TOKEN, FAST_WEBHOOKS, Receiver, addWebhook } from './webhook-support.js';

/*
 * `user.created` (PROTOCOL.md "Webhooks") for every way a user comes to exist, not only
 * registration: a first sign-in from the host app (an assertion) and a bot made by an
 * operator. Each is recorded in the transaction that made the user, in both stores; a
 * second sign-in of the same host-app user records nothing.
 */
const SECRET = 'a host app secret of at least 32 bytes!';
const ISSUER = 'https://app.example.com';
const AUDIENCE = 'switchboard';
const JWT_ENV = { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE };

let counter = 0;
const freshSub = () => `hook-user-${process.pid}-${Date.now()}-${++counter}`;
const assertion = (sub: string, name: string) =>
  new SignJWT({ preferred_username: name, name: 'From The App' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

async function usersMadeOtherwise(signInUrl: string, botUrl: string, receiver: Receiver) {
  const sub = freshSub();
  const name = `app_${process.pid}_${counter}`.slice(0, 32);
  const first = await http(signInUrl, 'POST', '/v1/sessions', { body: { assertion: await assertion(sub, name) } });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const again = await http(signInUrl, 'POST', '/v1/sessions', { body: { assertion: await assertion(sub, name) } });
  assert.equal(again.status, 201);
  assert.equal(again.body.user_id, first.body.user_id);
  const bot = await http(botUrl, 'POST', '/v1/admin/bots', {
    token: ADMIN_TOKEN,
    body: { username: `bot_${process.pid}_${counter}`.slice(0, 32), display_name: 'Helper bot' },
  });
  assert.equal(bot.status, 201, JSON.stringify(bot.body));
  await pollUntil(
    'both user.created events',
    async () => receiver.of('user.created').length,
    (n) => n >= 2,
  );
  // Nothing more comes (the second sign-in made no user).
  await new Promise((r) => setTimeout(r, 300));
  const made = receiver.of('user.created').map((d) => d.data);
  assert.deepEqual(made.map((u) => u.user_id).sort(), [first.body.user_id, bot.body.user_id].sort());
  const appUser = made.find((u) => u.user_id === first.body.user_id);
  assert.equal(appUser.username, name);
  assert.equal(appUser.display_name, 'From The App');
  assert.equal(made.find((u) => u.user_id === bot.body.user_id).display_name, 'Helper bot');
  assert.ok(receiver.accepted.every((d) => d.signed));
}

describe('webhooks (embedded): user.created for host-app sign-ins and bots', () => {
  const { srv } = suiteServer({
    adminToken: ADMIN_TOKEN,
    authJwtSecret: SECRET,
    authJwtIssuer: ISSUER,
    authJwtAudience: AUDIENCE,
    webhookPollMs: 50,
    webhookRetryBaseMs: 100,
    webhookRetryMaxMs: 500,
  });
  let receiver: Receiver;
  before(async () => {
    receiver = await Receiver.start();
  });
  after(() => receiver.close());

  test('a first assertion sign-in and an operator-made bot each send user.created, once', async () => {
    await addWebhook(srv.baseUrl, receiver, ['user.created']);
    await usersMadeOtherwise(srv.baseUrl, srv.baseUrl, receiver);
  });
});

const missing = await clusterServicesMissing();

describe('cluster: user.created for host-app sign-ins and bots', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2, { env: { ...FAST_WEBHOOKS, ...JWT_ENV } });
  let receiver: Receiver;
  before(async () => {
    receiver = await Receiver.start();
  });
  after(() => receiver.close());

  test('made through either node, each is recorded with the user and sent once', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    await addWebhook(a.baseUrl, receiver, ['user.created']);
    await usersMadeOtherwise(b.baseUrl, a.baseUrl, receiver);
  });
});
