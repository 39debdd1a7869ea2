import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { directChatId } from '@switchboard/protocol';
import { http, login, pollUntil, registerUser, TestSocket, type TestUser } from '../testing/harness.js';
import { fetchHistory, waitForSyncComplete, type Frame } from './delivery-support.js';
import { download, upload } from './media-support.js';

/*
 * Retention (PROTOCOL.md settings table, RETENTION_DAYS) over real servers, as a suite both
 * modes run: embedded (retention.test.ts) and a two-node cluster (retention-cluster.test.ts),
 * where both nodes run retention and take turns. The servers run with RETENTION_MS (the
 * test-only form of RETENTION_DAYS) = RETENTION_MS below, a pass every 100 ms and batches
 * of RETENTION_BATCH, so an erasure takes several batches.
 */

export const RETENTION_MS = 10_000;
export const RETENTION_BATCH = 5;
export const retentionEnv = {
  RETENTION_MS: String(RETENTION_MS),
  RETENTION_INTERVAL_MS: '100',
  RETENTION_BATCH: String(RETENTION_BATCH),
  RETENTION_PAUSE_MS: '5',
  RATE_LIMITS: 'off',
};

export interface RetentionTarget {
  /** Nodes to spread users over (one entry in embedded mode). */
  nodes: { baseUrl: string; wsUrl: string }[];
  /** Rows of the chat's log in the store's own table (messages and changes), read beside the server. */
  logRows(chatId: string): Promise<number>;
  /** Rows of the reactions table for the message. */
  reactionRows(messageId: string): Promise<number>;
  /** Whether the media store still holds the object's bytes. */
  mediaBytes(mediaId: string): Promise<boolean>;
}

export function retentionSuite(target: () => RetentionTarget): void {
  const node = (i: number) => target().nodes[i % target().nodes.length]!;
  const sockets: TestSocket[] = [];
  after(() => {
    for (const s of sockets) s.terminate();
  });
  const open = async (u: TestUser, i: number) => {
    const s = await TestSocket.connectSynced(node(i).wsUrl, u.token);
    sockets.push(s);
    return s;
  };
  const send = async (s: TestSocket, chatId: string, content: string, extra: Record<string, unknown> = {}): Promise<Frame> => {
    const id = randomUUID();
    const from = s.frames.length;
    s.send({ type: 'send_message', chat_id: chatId, client_msg_id: id, content, ...extra });
    const answer = await s.waitFor((f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === id, 10_000, 'ack', from);
    assert.equal(answer.type, 'ack_sent', JSON.stringify(answer));
    return answer;
  };
  const search = async (u: TestUser, word: string): Promise<string[]> => {
    const res = await http(node(0).baseUrl, 'GET', `/v1/search?q=${word}`, { token: u.token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body.messages as Frame[]).map((m) => m.message_id as string);
  };

  test('old messages, their reactions, search entries and media go; newer ones, media they still carry and avatars stay; an offline device gets what remains', async () => {
    const a = await registerUser(node(0).baseUrl, 'ret');
    const b = await registerUser(node(0).baseUrl, 'ret');
    // b's second device: signed in now, offline until after the erasure.
    const b2 = await login(node(0).baseUrl, b.username, b.password, 'offline');
    const chatId = directChatId(a.user_id, b.user_id);
    const [sa, sb] = [await open(a, 0), await open(b, 1)];
    const tag = Date.now().toString(36);
    const [oldWord, newWord] = [`ancient${tag}`, `recent${tag}`];

    const shared = await upload(node(0).baseUrl, a, randomBytes(2048), 'application/octet-stream', 'shared.bin');
    const only = await upload(node(0).baseUrl, a, randomBytes(2048), 'application/octet-stream', 'only.bin');
    const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 10, g: 120, b: 10 } } })
      .png()
      .toBuffer();
    const face = await upload(node(0).baseUrl, a, png, 'image/png', 'face.png');
    const set = await http(node(0).baseUrl, 'PATCH', '/v1/users/me', { token: a.token, body: { avatar_media_id: face } });
    assert.equal(set.status, 200, JSON.stringify(set.body));

    // The old part of the chat: more entries than one batch, with media, a reaction, a reply and an edit.
    const old1 = await send(sa, chatId, `first ${oldWord}`, { attachments: [{ media_id: shared }] });
    const old2 = await send(sa, chatId, `only here ${oldWord}`, { attachments: [{ media_id: only }] });
    const old3 = await send(sa, chatId, `my face ${oldWord}`, { attachments: [{ media_id: face }] });
    const react = randomUUID();
    sb.send({ type: 'react', chat_id: chatId, client_msg_id: react, message_id: old1.message_id, emoji: '👍' });
    await sb.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === react, 10_000, 'reaction ack');
    const oldIds = [old1, old2, old3].map((m) => m.message_id as string);
    for (let i = 0; i < 2 * RETENTION_BATCH; i++) oldIds.push((await send(sb, chatId, `filler ${i} ${oldWord}`)).message_id as string);
    await pollUntil(
      'old messages indexed',
      () => search(b, oldWord),
      (found) => found.length === oldIds.length,
    );
    const oldestAt = old1.created_at as number;

    // Half the retention later: newer messages, one carrying the shared media and quoting old1.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, oldestAt + RETENTION_MS / 2 - Date.now())));
    const new1 = await send(sa, chatId, `still here ${newWord}`, { attachments: [{ media_id: shared }], reply_to: old1.message_id });
    const new2 = await send(sb, chatId, `me too ${newWord}`);
    const newIds = [new1.message_id, new2.message_id];

    // Until the old part is gone (history is read in one go, so old and new are seen together).
    const history = await pollUntil(
      'old messages erased',
      () => fetchHistory(node(1).baseUrl, b.token, chatId),
      (msgs) => !msgs.some((m) => oldIds.includes(m.message_id)),
      RETENTION_MS + 5000,
    );
    assert.ok(Date.now() < (new1.created_at as number) + RETENTION_MS, 'checked before the newer messages expire');
    assert.deepEqual(
      history.map((m) => m.message_id),
      newIds,
      'history starts where retention left it',
    );
    assert.equal(history[0]!.reply_to?.preview, '', 'a quote of an erased message loses its preview');

    // The device offline all along gets what remains, then sync_complete.
    const s2 = await TestSocket.connect(node(0).wsUrl, b2.token);
    sockets.push(s2);
    const synced = await waitForSyncComplete(s2);
    const replayed = s2.frames.slice(0, synced).filter((f) => f.type === 'new_message' || f.type === 'message_update');
    assert.deepEqual(
      replayed.map((f) => f.message_id),
      newIds,
      'replay holds only what remains',
    );

    // Search, reactions and the log rows themselves.
    assert.deepEqual(await search(b, oldWord), [], 'search entries erased');
    assert.deepEqual((await search(b, newWord)).sort(), [...newIds].sort());
    assert.equal(await target().reactionRows(old1.message_id as string), 0, 'reactions erased');
    assert.equal(await target().logRows(chatId), newIds.length, 'only the newer entries are left in the log');

    // Media: gone when nothing else carries it; kept while a newer message does, or as an avatar.
    assert.equal((await download(node(0).baseUrl, a, only)).status, 404);
    // The bytes go right after the commit that erased their message.
    await pollUntil(
      'bytes of media only the old message carried deleted',
      () => target().mediaBytes(only),
      (held) => !held,
    );
    assert.equal((await download(node(0).baseUrl, b, shared)).status, 200, 'media a newer message carries stays');
    assert.equal(await target().mediaBytes(shared), true);
    assert.equal((await download(node(0).baseUrl, b, face)).status, 200, 'an avatar stays');
    assert.equal(await target().mediaBytes(face), true);

    // Once the newer messages expire too, the shared media goes with the last one; the avatar still stays.
    await pollUntil(
      'newer messages erased',
      () => target().logRows(chatId),
      (n) => n === 0,
      RETENTION_MS + 5000,
    );
    await pollUntil(
      'the last message carrying the media took its bytes',
      () => target().mediaBytes(shared),
      (held) => !held,
    );
    assert.equal(await target().mediaBytes(face), true, 'the avatar outlives every message that carried it');
    const chats = await http(node(1).baseUrl, 'GET', '/v1/chats', { token: b.token });
    const entry = (chats.body.chats as Frame[]).find((c) => c.chat_id === chatId)!;
    assert.equal(entry.last_message, null, 'an emptied chat has no last message');
    assert.equal(entry.unread_count, 0);
    // The chat goes on: the next message takes the next seq, and search finds it (the
    // embedded store's rowids start again once every row has gone).
    const again = `again${tag}`;
    const next = await send(sa, chatId, `hello ${again}`);
    assert.ok((next.seq as number) > (new2.seq as number));
    assert.deepEqual(await search(b, again), [next.message_id]);
    assert.deepEqual(
      (await fetchHistory(node(1).baseUrl, b.token, chatId)).map((m) => m.message_id),
      [next.message_id],
    );
  });
}
