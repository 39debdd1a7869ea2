import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, startTestServer, TestSocket, type TestServer } from '../testing/harness.js';
import { pollUntil } from '../testing/poll.js';
import { decryptAes128gcm } from '../testing/push-services.js';

/** /metrics needs its token on the public listener. */
const METRICS_TOKEN = 'test-metrics-token-0123456789';

/*
 * Web Push to a plain-http endpoint the operator allowed on purpose (WEBPUSH_ALLOWED_ENDPOINTS
 * naming an http:// prefix, as a local test service would), and redirects: never followed.
 */
const seen: { path: string; body: Buffer }[] = [];
let receiver: ReturnType<typeof createServer>;
let port = 0;
let srv: TestServer;

before(async () => {
  receiver = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body: Buffer.concat(chunks) });
      if (req.url?.startsWith('/moved/')) res.writeHead(301, { location: `http://127.0.0.1:${port}/elsewhere/` }).end();
      else res.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  port = (receiver.address() as { port: number }).port;
  srv = await startTestServer({
    webpushAllowedEndpoints: [`http://127.0.0.1:${port}/push/`, `http://127.0.0.1:${port}/moved/`],
    metricsToken: METRICS_TOKEN,
  });
});
after(async () => {
  await srv.stop();
  receiver.close();
});

function subscription(path: string) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    body: {
      endpoint: `http://127.0.0.1:${port}${path}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
    },
  };
}

test('an allowed http endpoint gets the encrypted push; a redirect is not followed', async () => {
  const [alice, bob, carol] = await Promise.all([
    registerUser(srv.baseUrl, 'alice'),
    registerUser(srv.baseUrl, 'bob'),
    registerUser(srv.baseUrl, 'carol'),
  ]);
  const direct = subscription('/push/bob');
  const moved = subscription('/moved/carol');
  for (const [u, s] of [
    [bob, direct],
    [carol, moved],
  ] as const) {
    assert.equal(
      (await http(srv.baseUrl, 'PUT', '/v1/devices/current/push', { token: u.token, body: { provider: 'webpush', subscription: s.body } }))
        .status,
      204,
    );
  }
  const sa = await TestSocket.connectSynced(srv.wsUrl, alice.token);
  await sa.sendMessage(directChatId(alice.user_id, carol.user_id), 'to carol');
  const toBob = await sa.sendMessage(directChatId(alice.user_id, bob.user_id), 'to bob');
  const push = await pollUntil(
    'the push to bob',
    async () => seen.find((r) => r.path === '/push/bob'),
    (r) => r !== undefined,
  );
  assert.deepEqual(JSON.parse(decryptAes128gcm(push!.body, direct.ecdh, direct.auth).toString('utf8')), {
    v: 1,
    type: 'new_message',
    chat_id: toBob.chat_id,
    message_id: toBob.message_id,
    seq: toBob.seq,
  });
  // carol's push service answered 301: refused as it is, never followed.
  const metrics = async () => (await fetch(`${srv.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  await pollUntil('the redirect counted as refused', metrics, (t) =>
    /switchboard_push_sends_total\{provider="webpush",outcome="rejected"\} 1/.test(t),
  );
  assert.equal(seen.filter((r) => r.path === '/moved/carol').length, 1);
  assert.equal(seen.filter((r) => r.path.startsWith('/elsewhere')).length, 0);
  sa.terminate();
});
