import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import { http, registerUser, seedUsers, suiteServer, type TestUser } from '../testing/harness.js';
import { post } from './e2ee-support.js';

/*
 * docs/e2ee.md "Limits": the Delivery Service's per-user buckets, each shrunk so a test
 * meets it in a few requests (the defaults, and the per-target claim bucket across two
 * nodes, are in e2ee-support.ts). A refusal is 429 rate_limited with Retry-After, and
 * nothing of the refused request is stored or consumed.
 */

const blob = (n = 48) => randomBytes(n).toString('base64');
const small = { capacity: 3, perSecond: 0.01 };

function assertRateLimited(r: Awaited<ReturnType<typeof post>>, what: string): void {
  assert.equal(r.status, 429, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error, 'rate_limited');
  assert.ok(Number.isInteger(r.body.retry_after_ms) && r.body.retry_after_ms > 0, `retry_after_ms ${r.body.retry_after_ms}`);
  assert.equal(r.retryAfter, String(Math.ceil(r.body.retry_after_ms / 1000)), 'Retry-After is retry_after_ms in seconds, rounded up');
}

describe('MLS limits (small buckets, embedded)', () => {
  const { srv } = suiteServer({
    limits: {
      ...DEFAULT_LIMITS,
      mlsClaims: { capacity: 150, perSecond: 0.01 },
      mlsKeyPackageUploads: small,
      mlsCommits: small,
      mlsCommitBytes: { capacity: 20_000, perSecond: 0.01 },
    },
  });
  const upload = (u: TestUser, n: number) =>
    post(srv.baseUrl, '/v1/mls/key-packages', u.token, { key_packages: Array.from({ length: n }, () => blob(16)) });
  const available = async (u: TestUser) =>
    (await http(srv.baseUrl, 'GET', '/v1/mls/key-packages', { token: u.token })).body.available as number;
  const claim = (u: TestUser, ids: string[]) => post(srv.baseUrl, '/v1/mls/key-packages/claim', u.token, { user_ids: ids });
  const group = async (admin: TestUser, members: TestUser[]) => {
    const g = await post(srv.baseUrl, '/v1/groups', admin.token, {
      name: 'limits',
      member_ids: members.map((m) => m.user_id),
      encrypted: true,
    });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    return g.body.chat_id as string;
  };
  const commit = (u: TestUser, chatId: string, epoch: number, welcomes?: { device_ids: string[]; welcome: string }[]) =>
    post(srv.baseUrl, `/v1/chats/${encodeURIComponent(chatId)}/mls/commits`, u.token, {
      client_msg_id: randomUUID(),
      epoch,
      commit: blob(),
      group_info: blob(),
      ...(welcomes ? { welcomes } : {}),
    });
  const epochOf = async (u: TestUser, chatId: string) =>
    (await http(srv.baseUrl, 'GET', `/v1/chats/${chatId}/mls`, { token: u.token })).body.epoch;

  test('claims cost one token per user named: a claim of 100 users is not free, and a refused one consumes nothing', async () => {
    const [claimer, bystander] = await seedUsers(srv, 2, 'mlq');
    const targets = await seedUsers(srv, 100, 'mlt');
    assert.equal((await upload(targets[0]!, 5)).status, 201);
    const ids = targets.map((t) => t.user_id);
    const first = await claim(claimer!, ids);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(await available(targets[0]!), 4);
    // 50 tokens left: another claim of the same 100 users is refused whole.
    assertRateLimited(await claim(claimer!, ids), 'a second claim of 100 users');
    assert.equal(await available(targets[0]!), 4, 'the refused claim consumed nothing');
    // Duplicates count once; 50 more users fit exactly, then nothing does.
    assert.equal((await claim(claimer!, [...ids.slice(50), ...ids.slice(50)])).status, 200);
    assertRateLimited(await claim(claimer!, [ids[1]!]), 'one user more');
    // Another claimer is not affected.
    const other = await claim(bystander!, [targets[0]!.user_id]);
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal(await available(targets[0]!), 3);
  });

  test('key package uploads per user: the flood past the burst is refused and stores nothing', async () => {
    const [flooder, other] = await seedUsers(srv, 2, 'mlu');
    for (let i = 0; i < small.capacity; i++) assert.equal((await upload(flooder!, 1)).status, 201);
    assertRateLimited(await upload(flooder!, 1), 'an upload past the burst');
    assert.equal(await available(flooder!), small.capacity);
    assert.equal((await upload(other!, 1)).status, 201, 'another user uploads');
  });

  test('commits per user: a flood past the burst gets 429 and stores nothing; another member commits on', async () => {
    const [alice, bob] = [await registerUser(srv.baseUrl, 'mlca'), await registerUser(srv.baseUrl, 'mlcb')];
    const chatId = await group(alice, [bob]);
    for (let epoch = 0; epoch < small.capacity; epoch++) {
      const c = await commit(alice, chatId, epoch, [{ device_ids: [bob.device_id], welcome: blob() }]);
      assert.equal(c.status, 201, JSON.stringify(c.body));
    }
    assertRateLimited(await commit(alice, chatId, small.capacity), 'a commit past the burst');
    assert.equal(await epochOf(alice, chatId), small.capacity, 'the refused commit was not stored');
    assert.equal((await commit(bob, chatId, small.capacity)).status, 201, 'another member is not affected');
  });

  test('welcome and group info bytes per user: big commits past the byte burst get 429 while the count allows them', async () => {
    const [carol, dave, erin] = [
      await registerUser(srv.baseUrl, 'mlbc'),
      await registerUser(srv.baseUrl, 'mlbd'),
      await registerUser(srv.baseUrl, 'mlbe'),
    ];
    const chatId = await group(carol, [dave, erin]);
    const big = () => [{ device_ids: [dave.device_id], welcome: blob(9000) }]; // 12,000 characters
    assert.equal((await commit(carol, chatId, 0, big())).status, 201);
    assertRateLimited(await commit(carol, chatId, 1, big()), 'a second 12,000-character welcome (20,000 burst)');
    assert.equal(await epochOf(carol, chatId), 1);
    assert.equal(
      (await http(srv.baseUrl, 'GET', '/v1/mls/welcomes', { token: dave.token })).body.welcomes.length,
      1,
      'the refused welcome was not stored',
    );
    assert.equal((await commit(carol, chatId, 1)).status, 201, 'a small commit still fits');
    // A commit larger than the whole burst passes when the bucket is full (else it never could), and empties it.
    const huge = [{ device_ids: [erin.device_id], welcome: blob(30_000) }];
    assert.equal((await commit(dave, chatId, 2, huge)).status, 201);
    assertRateLimited(await commit(dave, chatId, 3), 'then even a small one');
  });
});
