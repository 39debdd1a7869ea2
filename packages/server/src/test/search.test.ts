import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, sleep, suiteServer, TestSocket, type TestUser } from '../testing/harness.js';
import type { Frame } from './delivery-support.js';

/*
 * GET /v1/search?q=&chat_id=&limit=: words and prefixes, newest first, only from the
 * caller's chats (403 for a chat_id of a chat the caller is not in), and query syntax in
 * the input never breaks it (200 with results or nothing, never 500).
 */

describe('search', () => {
  const { srv, open } = suiteServer();
  let a: TestUser, b: TestUser, c: TestUser;
  let sa: TestSocket; // a's socket, open for the whole suite
  let dmAB: string, dmBC: string, group: { group_id: string; chat_id: string };
  const sent = new Map<string, Frame>(); // content -> ack

  before(async () => {
    [a, b, c] = await Promise.all([registerUser(srv.baseUrl, 'sra'), registerUser(srv.baseUrl, 'srb'), registerUser(srv.baseUrl, 'src')]);
    dmAB = directChatId(a.user_id, b.user_id);
    dmBC = directChatId(b.user_id, c.user_id);
    const g = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: a.token,
      body: { name: 'Fruit', member_ids: [b.user_id, c.user_id] },
    });
    assert.equal(g.status, 201);
    group = g.body;
    const [first, sb, sc] = await Promise.all([a, b, c].map((u) => open(u)));
    sa = first!;
    const plan: [TestSocket, string, string][] = [
      [sa!, dmAB, 'The banana is ripe'],
      [sb!, dmAB, 'bananas are yellow'],
      [sa!, group.chat_id, 'Who brought the BANANA bread?'],
      [sc!, group.chat_id, 'I did, with walnuts'],
      [sb!, dmBC, 'secret banana plan between b and c'],
      [sa!, dmAB, 'apple pie tonight'],
      [sb!, group.chat_id, 'ripe mangoes and a banana'],
      [sa!, dmAB, 'Привет, как дела'],
      [sa!, dmAB, 'content is king'],
      [sa!, dmAB, 'NEAR the river, OR maybe not'],
    ];
    for (const [sock, chatId, content] of plan) {
      const ack = await sock.sendMessage(chatId, content);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      sent.set(content, ack);
      await sleep(2); // distinct created_at, so "newest first" is well defined
    }
  });

  async function search(u: TestUser, params: Record<string, string>) {
    const qs = new URLSearchParams(params).toString();
    return http(srv.baseUrl, 'GET', `/v1/search?${qs}`, { token: u.token });
  }
  async function contents(u: TestUser, params: Record<string, string>): Promise<string[]> {
    const res = await search(u, params);
    assert.equal(res.status, 200, `search ${JSON.stringify(params)}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.ok(Array.isArray(res.body.messages), JSON.stringify(res.body));
    return (res.body.messages as Frame[]).map((m) => m.content as string);
  }

  test('finds words and prefixes, case-insensitively, newest first, as full messages', async () => {
    const res = await search(a, { q: 'banana' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const msgs = res.body.messages as Frame[];
    assert.deepEqual(
      msgs.map((m) => m.content),
      ['ripe mangoes and a banana', 'Who brought the BANANA bread?', 'bananas are yellow', 'The banana is ripe'],
      '"banana" matches the word and (as a prefix) "bananas", in a’s chats only, newest first',
    );
    const first = msgs[0]!;
    const ack = sent.get('ripe mangoes and a banana')!;
    assert.equal(first.message_id, ack.message_id);
    assert.equal(first.chat_id, group.chat_id);
    assert.equal(first.seq, ack.seq);
    assert.equal(first.sender_id, b.user_id);
    assert.equal(first.client_msg_id, ack.client_msg_id);
    assert.equal(first.created_at, ack.created_at);
    assert.equal(typeof first.sender_device_id, 'string');
    for (let i = 1; i < msgs.length; i++) assert.ok(msgs[i - 1]!.created_at >= msgs[i]!.created_at, 'newest first');

    assert.deepEqual(await contents(a, { q: 'BANANA' }), await contents(a, { q: 'banana' }));
    assert.deepEqual(await contents(a, { q: 'ban' }), await contents(a, { q: 'banana' }), 'prefixes match');
    assert.deepEqual(await contents(a, { q: 'walnut' }), ['I did, with walnuts']);
    assert.deepEqual(await contents(a, { q: 'ripe banana' }), ['ripe mangoes and a banana', 'The banana is ripe'], 'every word must match');
    assert.deepEqual(await contents(a, { q: 'прив' }), ['Привет, как дела'], 'non-Latin words and prefixes');
    assert.deepEqual(await contents(a, { q: 'kiwi' }), []);
    // Punctuation around words does not matter.
    assert.deepEqual(await contents(a, { q: 'bread?' }), ['Who brought the BANANA bread?']);
  });

  test('only the caller’s chats; chat_id filters, and 403 for a chat one is not in', async () => {
    assert.ok(!(await contents(a, { q: 'secret' })).length, 'a is not in the b–c chat');
    assert.deepEqual(await contents(c, { q: 'secret' }), ['secret banana plan between b and c']);
    assert.deepEqual(await contents(c, { q: 'banana' }), [
      'ripe mangoes and a banana',
      'secret banana plan between b and c',
      'Who brought the BANANA bread?',
    ]);

    assert.deepEqual(await contents(a, { q: 'banana', chat_id: dmAB }), ['bananas are yellow', 'The banana is ripe']);
    assert.deepEqual(await contents(a, { q: 'banana', chat_id: group.chat_id }), [
      'ripe mangoes and a banana',
      'Who brought the BANANA bread?',
    ]);
    for (const chatId of [dmBC, 'g:999999999999', directChatId('1', '2'), 'nonsense']) {
      const res = await search(a, { q: 'banana', chat_id: chatId });
      assert.equal(res.status, 403, `chat_id ${chatId}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'not_a_member');
    }
    assert.equal((await http(srv.baseUrl, 'GET', '/v1/search?q=banana')).status, 401);
  });

  test('words match message text only, never the chat a message is in (dm, g, chat ids)', async () => {
    for (const q of ['dm', 'd', 'g', 'gx', 'dmx']) {
      const found = await contents(a, { q });
      assert.ok(
        found.every((text) =>
          text
            .toLowerCase()
            .split(/[^a-z0-9]+/)
            .some((w) => w.startsWith(q)),
        ),
        `q=${q} found messages without such a word: ${JSON.stringify(found)}`,
      );
    }
  });

  test('limit caps the results, newest kept', async () => {
    assert.deepEqual(await contents(a, { q: 'banana', limit: '2' }), ['ripe mangoes and a banana', 'Who brought the BANANA bread?']);
    assert.deepEqual(await contents(a, { q: 'banana', limit: '1', chat_id: dmAB }), ['bananas are yellow']);
    for (const limit of ['0', '-1', 'abc']) {
      const res = await search(a, { q: 'banana', limit });
      assert.deepEqual([res.status, res.body.error], [400, 'invalid_request'], `limit=${limit}: ${JSON.stringify(res.body)}`);
    }
    // The protocol gives search no maximum: a large limit is capped (at 100), not refused.
    for (const limit of ['101', '200', '100000']) {
      const res = await search(a, { q: 'banana', limit });
      assert.equal(res.status, 200, `limit=${limit}: ${JSON.stringify(res.body)}`);
      assert.ok(res.body.messages.length >= 2, `limit=${limit}: every match`);
    }
  });

  test('query syntax in the input is harmless: 200 with results or nothing, never 500', async () => {
    const mine = new Set([dmAB, group.chat_id]);
    const hostile = [
      '"',
      '""',
      '"banana',
      '*',
      'ban*',
      '**',
      'NEAR(',
      'NEAR(banana ripe, 2)',
      'a OR b',
      'banana OR',
      'OR',
      'AND',
      'NOT',
      'banana NOT ripe',
      '-banana',
      '+banana',
      '^banana',
      'content:x',
      'content:banana',
      'messages_fts:banana',
      '{content}: banana',
      '(',
      ')',
      '(banana',
      'banana)',
      '',
      ' ',
      "'",
      "'; DROP TABLE messages; --",
      '\\',
      '%',
      '_',
      '%_%',
      ':',
      'rank:1',
      '🍌',
      'x'.repeat(1000),
      'b'.repeat(200) + '*',
    ];
    // A NUL is refused like any unstorable text (odd-text.test.ts): 400, never 500.
    assert.equal((await search(a, { q: '\u0000' })).status, 400);
    for (const q of hostile) {
      const res = await search(a, { q });
      assert.equal(res.status, 200, `q=${JSON.stringify(q.slice(0, 40))}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.ok(Array.isArray(res.body.messages), `q=${JSON.stringify(q.slice(0, 40))}: ${JSON.stringify(res.body)}`);
      for (const m of res.body.messages as Frame[])
        assert.ok(mine.has(m.chat_id), `q=${JSON.stringify(q)} returned a message of chat ${m.chat_id}`);
    }
    // No q at all.
    const none = await http(srv.baseUrl, 'GET', '/v1/search', { token: a.token });
    assert.equal(none.status, 200, JSON.stringify(none.body));
    assert.ok(Array.isArray(none.body.messages));
    // Words next to syntax still find what they name (or nothing), and the data is intact.
    assert.ok((await contents(a, { q: 'content:banana' })).every((t) => /banana/i.test(t) && /content/i.test(t)));
    assert.deepEqual(await contents(a, { q: 'NEAR' }), ['NEAR the river, OR maybe not']);
    assert.deepEqual(await contents(a, { q: 'content' }), ['content is king']);
    assert.equal((await contents(a, { q: 'banana' })).length, 4, 'the messages survived the hostile queries');
  });

  test('membership changes apply: a removed member no longer finds the group’s messages, a new one only later ones', async () => {
    const [d] = await Promise.all([registerUser(srv.baseUrl, 'srd')]);
    const add = await http(srv.baseUrl, 'POST', `/v1/groups/${group.group_id}/members`, {
      token: a.token,
      body: { user_ids: [d!.user_id] },
    });
    assert.equal(add.status, 200);
    assert.deepEqual(await contents(d!, { q: 'banana' }), [], 'nothing from before joining');
    const ack = await sa.sendMessage(group.chat_id, 'banana split for the newcomer');
    assert.equal(ack.type, 'ack_sent');
    assert.deepEqual(await contents(d!, { q: 'banana' }), ['banana split for the newcomer']);

    const rm = await http(srv.baseUrl, 'DELETE', `/v1/groups/${group.group_id}/members/${d!.user_id}`, { token: a.token });
    assert.equal(rm.status, 204);
    assert.deepEqual(await contents(d!, { q: 'banana' }), [], 'a removed member does not search the group');
    const res = await search(d!, { q: 'banana', chat_id: group.chat_id });
    assert.equal(res.status, 403);
  });
});
