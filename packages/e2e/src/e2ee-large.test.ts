import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { loadConfig } from '@switchboard/server';
import { startTestServer, waitUntil, type TestServer } from '@switchboard/server/testing';
import { MAX_CLAIM_USERS, type MlsChatState } from '@switchboard/protocol';
import { SwitchboardHttpError, type FetchLike } from '@switchboard/client';
import { exchange, inGroup, newAccount, openDevice, removeDeviceDirs, type Device } from './e2ee-support.js';

/*
 * docs/e2ee.md "Limits" as the SDK meets them, on the embedded server: a group of more users
 * than one claim may name (the SDK claims in chunks of 100), and claims refused with 429
 * rate_limited (the SDK waits retry_after_ms and claims again; a wait longer than 30 s
 * surfaces as the error).
 */

const OTHERS = MAX_CLAIM_USERS + 2;

/** A fetch that notes every key package claim: how many users it named, its status, and retry_after_ms of a 429. */
function claimRecorder() {
  const claims: { users: number; status: number; retryAfterMs?: number; at: number }[] = [];
  const fetchImpl: FetchLike = async (input, init) => {
    const res = await fetch(input, init);
    if (new URL(input).pathname === '/v1/mls/key-packages/claim') {
      const body = (await res.clone().json()) as { retry_after_ms?: number };
      const users = (JSON.parse(init?.body ?? '{}') as { user_ids?: string[] }).user_ids?.length ?? 0;
      claims.push({ users, status: res.status, retryAfterMs: body.retry_after_ms, at: Date.now() });
    }
    return res;
  };
  return { claims, fetchImpl };
}

/** Runs `make` over `items`, `width` at a time (opening a device makes key packages and a socket: not all at once). */
async function inBatches<T, R>(items: T[], width: number, make: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map((x, j) => make(x, i + j)))));
  return out;
}

describe('encrypted groups and the Delivery Service limits, with the SDK (embedded)', () => {
  const devices: Device[] = [];
  const servers: TestServer[] = [];
  after(async () => {
    for (const d of devices) {
      d.e2ee.close();
      await d.client.close();
    }
    for (const s of servers) await s.stop();
    removeDeviceDirs();
  });
  const open = async (baseUrl: string, prefix: string, fetchImpl?: FetchLike) => {
    const d = await openDevice(baseUrl, await newAccount(baseUrl, prefix), undefined, fetchImpl ? { fetch: fetchImpl } : {});
    devices.push(d);
    return d;
  };

  test(`a group of the creator and ${OTHERS} others: claims go in chunks of ${MAX_CLAIM_USERS}, every device is welcomed, the ${MAX_CLAIM_USERS + 1}st member reads the creator`, async (t) => {
    const server = await startTestServer();
    servers.push(server);
    const started = performance.now();
    const recorder = claimRecorder();
    const creator = await open(server.baseUrl, 'e2big', recorder.fetchImpl);
    const others = await inBatches(Array.from({ length: OTHERS }), 8, (_, i) => open(server.baseUrl, `e2m${i}`));
    const opened = performance.now();
    t.diagnostic(`opened ${OTHERS + 1} SDK devices in ${Math.round(opened - started)} ms`);

    const group = await creator.e2ee.createEncryptedGroup(
      'more than one claim',
      others.map((d) => d.session.user_id),
    );
    const created = performance.now();
    t.diagnostic(`createEncryptedGroup took ${Math.round(created - opened)} ms`);
    assert.deepEqual(
      recorder.claims.map((c) => [c.users, c.status]),
      [
        [MAX_CLAIM_USERS, 200],
        [OTHERS - MAX_CLAIM_USERS, 200],
      ],
    );
    assert.equal(creator.e2ee.members(group.chat_id).length, OTHERS + 1, 'one leaf per device');
    const state = await creator.client.rest.request<MlsChatState>('GET', `/v1/chats/${encodeURIComponent(group.chat_id)}/mls`);
    assert.equal(state.devices.length, OTHERS + 1);
    assert.equal(state.epoch, creator.e2ee.epoch(group.chat_id));

    const far = others[MAX_CLAIM_USERS]!;
    // Every device of this one process processes the welcome (a tree of 103 leaves) at once: more than inGroup's 10 s on 2 cores.
    await waitUntil(() => far.e2ee.hasGroup(group.chat_id), 60_000, 'the 101st member joins');
    t.diagnostic(`the ${MAX_CLAIM_USERS + 1}st member joined after ${Math.round(performance.now() - created)} ms`);
    const [got] = await exchange(creator, [far], group.chat_id, 'a secret for the hundred and first');
    assert.equal(got!.text, 'a secret for the hundred and first');
    // The one welcome covered everyone, the first claim's users and the second's.
    await waitUntil(
      () => others.every((d) => d.e2ee.hasGroup(group.chat_id)),
      60_000,
      'every member device joins',
      () => String(others.filter((d) => d.e2ee.hasGroup(group.chat_id)).length),
    );
    assert.ok(others.every((d) => d.e2ee.epoch(group.chat_id) === creator.e2ee.epoch(group.chat_id)));
    t.diagnostic(`welcome, joins and the message took ${Math.round(performance.now() - created)} ms`);
  });

  test('a claim refused with 429 rate_limited is made again after retry_after_ms; one that asks for longer than 30 s fails the call', async () => {
    // A claimer's bucket of 3 users (then one each 2.5 s), and 2 claims per (claimer, named user).
    const { limits } = loadConfig(
      {},
      { LIMIT_REGISTRATIONS: '100000:1000', LIMIT_MLS_CLAIMS: '3:0.4', LIMIT_MLS_CLAIMS_PER_TARGET: '2:0.001' },
    );
    const server = await startTestServer({ limits });
    servers.push(server);
    const recorder = claimRecorder();
    const admin = await open(server.baseUrl, 'e2rl', recorder.fetchImpl);
    const members = await Promise.all([0, 1, 2].map((i) => open(server.baseUrl, `e2rlm${i}`)));
    const late = await open(server.baseUrl, 'e2rlate');
    const group = await admin.e2ee.createEncryptedGroup(
      'paced',
      members.map((d) => d.session.user_id),
    );
    // The claimer's bucket is empty now: the next claim waits up to 2.5 s.
    await admin.e2ee.addMembers(group.chat_id, [late.session.user_id]);
    // 200 for the group, then 429 (again, should a timer fire a little early) until the claim passes.
    const [first, refused, again] = recorder.claims;
    assert.equal(first!.status, 200);
    assert.equal(first!.users, 3);
    assert.deepEqual(
      recorder.claims.slice(1).map((c) => c.status),
      [...recorder.claims.slice(1, -1).map(() => 429), 200],
    );
    assert.equal(refused!.status, 429);
    assert.ok(refused!.retryAfterMs! > 0);
    // Timers may fire a millisecond early against Date.now().
    assert.ok(again!.at - refused!.at >= refused!.retryAfterMs! - 5, `waited ${again!.at - refused!.at} ms of ${refused!.retryAfterMs} ms`);
    await inGroup(late, group.chat_id);
    await exchange(admin, [late, ...members], group.chat_id, 'a secret after a paced claim');

    // members[0] was claimed once; a second claim of it passes (after the claimer's bucket refills), a third
    // would wait 1,000 s for the pair bucket: not waited, the call fails with the 429.
    await admin.e2ee.changeMembers(group.chat_id, [members[0]!.session.user_id]);
    const before = recorder.claims.length;
    await assert.rejects(
      admin.e2ee.changeMembers(group.chat_id, [members[0]!.session.user_id]),
      (e: unknown) => e instanceof SwitchboardHttpError && e.status === 429 && e.code === 'rate_limited',
    );
    assert.equal(recorder.claims.length, before + 1, 'made once');
    assert.ok(recorder.claims.at(-1)!.retryAfterMs! > 30_000);
  });
});
