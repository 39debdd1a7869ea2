import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppendRequest, ChangeRequest, LogEntry, Store, StoredMessage } from './store.js';

/*
 * The message lifecycle part of the store contract (store.contract.ts runs it for both
 * stores): changes are entries of the chat's log with their own seq, the target row holds
 * the message as it is now, and a delete erases rather than hides.
 */

let counter = 0;
const uid = (p: string) => `${p}${process.pid}l${Date.now().toString(36)}x${++counter}`;

export function runLifecycleContract(getStore: () => Store): void {
  async function setup() {
    const store = getStore();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = uid('lu');
      const u = await store.createUser({ id, username: id.slice(0, 32), displayName: id, passwordHash: 'x', createdAt: 1 });
      assert.notEqual(u, 'username_taken');
      ids.push(id);
    }
    const [admin, b, c] = ids as [string, string, string];
    const chatId = `g:${uid('lg')}`;
    await store.createGroup({
      chatId,
      name: 'lifecycle',
      createdBy: admin,
      createdAt: 1,
      members: [
        { userId: admin, role: 'admin' },
        { userId: b, role: 'member' },
        { userId: c, role: 'member' },
      ],
    });
    const send = async (senderId: string, over: Partial<AppendRequest> = {}) => {
      const [r] = await store.append([
        {
          messageId: uid('m'),
          chatId,
          senderId,
          senderDeviceId: `dev-${senderId}`,
          clientMsgId: uid('c'),
          content: 'hello',
          createdAt: Date.now(),
          ...over,
        },
      ]);
      return r!.message!;
    };
    const change = (senderId: string, over: Partial<ChangeRequest> & Pick<ChangeRequest, 'targetId' | 'action'>) =>
      store.applyChange({
        messageId: uid('x'),
        chatId,
        senderId,
        senderDeviceId: `dev-${senderId}`,
        clientMsgId: uid('cx'),
        createdAt: Date.now(),
        editWindowMs: 60_000,
        deleteWindowMs: 60_000,
        ...over,
      });
    return { store, admin, b, c, chatId, send, change };
  }

  test('lifecycle: a change takes the next seq, is stored once per client_msg_id, and history shows the message as it is now', async () => {
    const { store, admin, b, chatId, send, change } = await setup();
    const m = await send(b, { content: 'first text' });
    const edit = await change(b, { targetId: m.message_id, action: 'edit', content: 'second text', clientMsgId: 'edit-1' });
    assert.ok(edit.entry && !edit.refused && !edit.duplicate);
    assert.equal(edit.entry.seq, m.seq + 1);
    const again = await change(b, { targetId: m.message_id, action: 'edit', content: 'third text', clientMsgId: 'edit-1' });
    assert.equal(!again.refused && again.duplicate, true);
    assert.equal(again.entry!.message_id, edit.entry.message_id, 'a repeat answers the first change');
    await change(admin, { targetId: m.message_id, action: 'react', emoji: '👍' });
    await change(b, { targetId: m.message_id, action: 'react', emoji: '👍' });
    await change(b, { targetId: m.message_id, action: 'react', emoji: '🎉' }); // replaces b's 👍
    const history = await store.history(chatId, { limit: 10, minSeq: 0 });
    assert.equal(history.length, 1, 'changes are not messages');
    assert.equal(history[0]!.content, 'second text');
    assert.equal(typeof history[0]!.edited_at, 'number');
    const reactions = await store.reactions([m.message_id]);
    assert.deepEqual(reactions.get(m.message_id), [
      { emoji: '👍', count: 1, user_ids: [admin] },
      { emoji: '🎉', count: 1, user_ids: [b] },
    ]);
    const log = await store.range(chatId, 0, 100, 100);
    assert.deepEqual(
      log.map((e) => ('action' in e ? e.action : 'message')),
      ['message', 'edit', 'react', 'react', 'react'],
    );
    assert.deepEqual(
      log.map((e) => e.seq),
      [1, 2, 3, 4, 5],
      'one gap-free log',
    );
    assert.equal((await store.getChat(chatId))!.lastSeq, 5);
    const row = (await store.listChats(admin)).find((r) => r.chat.id === chatId)!;
    assert.equal(row.lastMessage!.message_id, m.message_id, 'last_message is a message');
    assert.equal(row.unreadCount, 1, 'changes are never unread');
  });

  test('lifecycle: refusals store nothing: another’s message, a deleted target, a window passed, a target elsewhere, a non-member', async () => {
    const { store, admin, b, c, chatId, send, change } = await setup();
    const m = await send(b, { content: 'mine', createdAt: Date.now() - 10_000 });
    const before = (await store.getChat(chatId))!.lastSeq;
    assert.equal((await change(c, { targetId: m.message_id, action: 'edit', content: 'x' })).refused, 'forbidden');
    assert.equal((await change(c, { targetId: m.message_id, action: 'delete' })).refused, 'forbidden');
    assert.equal((await change(b, { targetId: m.message_id, action: 'edit', content: 'x', editWindowMs: 5_000 })).refused, 'forbidden');
    assert.equal((await change(b, { targetId: m.message_id, action: 'delete', deleteWindowMs: 5_000 })).refused, 'forbidden');
    assert.equal((await change(b, { targetId: 'no-such-message', action: 'react', emoji: '👍' })).refused, 'invalid_reference');
    assert.equal((await change('not-a-member', { targetId: m.message_id, action: 'react', emoji: '👍' })).refused, 'not_a_member');
    assert.equal((await store.getChat(chatId))!.lastSeq, before, 'nothing stored for a refused change');
    // A group admin deletes anyone's message at any time; then it cannot be changed again.
    const del = await change(admin, { targetId: m.message_id, action: 'delete', deleteWindowMs: 0 });
    assert.ok(del.entry);
    assert.equal((await change(b, { targetId: m.message_id, action: 'edit', content: 'x' })).refused, 'forbidden');
    assert.equal((await change(c, { targetId: m.message_id, action: 'react', emoji: '👍' })).refused, 'forbidden');
    assert.equal(
      (await change(admin, { targetId: del.entry.message_id, action: 'delete' })).refused,
      'invalid_reference',
      'a change is no target',
    );
  });

  test('lifecycle: a delete erases text, attachments, mentions, reactions, edits and previews quoting it, and the search entry', async () => {
    const { store, admin, b, c, chatId, send, change } = await setup();
    const word = `zebra${Date.now().toString(36)}`;
    const m = await send(b, { content: `the ${word} secret`, mentions: [c] });
    await change(b, { targetId: m.message_id, action: 'edit', content: `the ${word} secret, edited` });
    await change(c, { targetId: m.message_id, action: 'react', emoji: '👍' });
    const reply = await send(c, {
      content: 'quoting it',
      replyTo: { message_id: m.message_id, sender_id: b, preview: `the ${word} secret` },
    });
    assert.equal((await store.search(admin, [word], { limit: 10 })).length, 1);
    const del = await change(b, { targetId: m.message_id, action: 'delete' });
    assert.ok(del.entry);
    assert.equal('content' in del.entry, false, 'the delete entry carries no content');
    const after = (await store.getMessage(m.message_id)) as StoredMessage;
    assert.deepEqual(
      { content: after.content, deleted: after.deleted, mentions: after.mentions, edited_at: after.edited_at },
      { content: '', deleted: true, mentions: undefined, edited_at: undefined },
    );
    assert.equal((await store.reactions([m.message_id])).size, 0);
    const log = await store.range(chatId, 0, 100, 100);
    const texts = log.map((e: LogEntry) => ('content' in e ? e.content : '') + ('emoji' in e ? (e.emoji ?? '') : ''));
    assert.ok(!texts.some((t) => t.includes(word) || t.includes('👍')), `nothing of it is left in the log: ${JSON.stringify(texts)}`);
    const quoted = (await store.getMessage(reply.message_id)) as StoredMessage;
    assert.deepEqual(quoted.reply_to, { message_id: m.message_id, sender_id: b, preview: '' });
    assert.deepEqual(await store.search(admin, [word], { limit: 10 }), []);
  });

  test('lifecycle: chat settings per member; at most maxPinned pinned; pinned chats list first; muted members', async () => {
    const { store, admin, b, chatId } = await setup();
    assert.equal(await store.setChatSettings('nobody', chatId, { pinned: true }, 10), 'not_a_member');
    const view = await store.setChatSettings(b, chatId, { mutedUntil: Date.now() + 60_000, archived: true }, 10);
    assert.deepEqual(view, { chat_id: chatId, muted_until: (view as { muted_until: number }).muted_until, archived: true, pinned: false });
    assert.deepEqual(await store.mutedMembers(chatId, [admin, b], Date.now()), [b]);
    assert.equal((await store.setChatSettings(b, chatId, { mutedUntil: null }, 10)) !== 'not_a_member', true);
    assert.deepEqual(await store.mutedMembers(chatId, [admin, b], Date.now()), []);
    // Pins: the limit counts the user's pinned chats.
    assert.equal(await store.setChatSettings(b, chatId, { pinned: true }, 0), 'too_many_pinned');
    assert.notEqual(await store.setChatSettings(b, chatId, { pinned: true }, 1), 'too_many_pinned');
    const rows = await store.listChats(b);
    assert.equal(rows[0]!.chat.id, chatId, 'pinned first');
    assert.deepEqual([rows[0]!.member.pinned, rows[0]!.member.archived, rows[0]!.member.mutedUntil], [true, true, null]);
  });
}
