import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import type { AppendRequest, Store, StoredMessage } from './store.js';
import { runLifecycleContract } from './store-lifecycle.contract.js';

/*
 * The store contract: every Store implementation runs this same suite
 * (sqlite-store.test.ts, postgres-store.test.ts). It states the guarantees core relies on.
 */

let counter = 0;
const uid = (p: string) => `${p}${process.pid}x${Date.now().toString(36)}x${++counter}`;

async function user(store: Store, name = uid('u')) {
  const u = await store.createUser({ id: uid('id'), username: name.slice(0, 32), displayName: name, passwordHash: 'x', createdAt: 1 });
  assert.notEqual(u, 'username_taken');
  return u as Exclude<typeof u, 'username_taken'>;
}

/** A group `g:…` the first user created (admin) with the others as members; answers its chat id. */
async function group(store: Store, admin: string, members: string[], name = 'g'): Promise<string> {
  const chatId = `g:${uid('g')}`;
  const roles = [{ userId: admin, role: 'admin' as const }, ...members.map((userId) => ({ userId, role: 'member' as const }))];
  await store.createGroup({ chatId, name, createdBy: admin, createdAt: 1, members: roles });
  return chatId;
}

function req(chatId: string, senderId: string, over: Partial<AppendRequest> = {}): AppendRequest {
  return {
    messageId: uid('m'),
    chatId,
    senderId,
    senderDeviceId: 'dev-' + senderId,
    clientMsgId: uid('c'),
    content: 'hello',
    createdAt: Date.now(),
    ...over,
  };
}

export function runStoreContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`${name} store contract`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => ({ store, cleanup } = await open()));
    after(async () => cleanup());
    runLifecycleContract(() => store);

    async function dm() {
      const a = await user(store);
      const b = await user(store);
      const chatId = `dm:${a.id < b.id ? a.id : b.id}:${a.id < b.id ? b.id : a.id}`;
      return { a, b, chatId, first: req(chatId, a.id, { createDirectWith: [a.id, b.id] }) };
    }

    test('usernames are unique', async () => {
      const u = await user(store);
      const again = await store.createUser({ id: uid('id'), username: u.username, displayName: 'x', passwordHash: 'x', createdAt: 1 });
      assert.equal(again, 'username_taken');
      assert.equal((await store.getUserByUsername(u.username))?.id, u.id);
      assert.deepEqual(await store.missingUsers([u.id, 'nope']), ['nope']);
    });

    test('device tokens resolve until revoked', async () => {
      const u = await user(store);
      await store.createDevice({ id: uid('d'), userId: u.id, name: 'phone', createdAt: 1, tokenHash: 'h' + uid('t') });
      const hash = 'h' + uid('t');
      const id = uid('d');
      await store.createDevice({ id, userId: u.id, name: 'laptop', createdAt: 2, tokenHash: hash });
      assert.equal((await store.deviceByTokenHash(hash))?.id, id);
      await store.revokeDevice(id, 3);
      assert.equal(await store.deviceByTokenHash(hash), null);
    });

    test("a user's live devices are listed; a device is revoked only by its own user; activity only moves forward", async () => {
      const u = await user(store);
      const other = await user(store);
      const phone = uid('d');
      const laptop = uid('d');
      const laptopHash = 'h' + uid('t');
      await store.createDevice({ id: phone, userId: u.id, name: 'phone', createdAt: 10, tokenHash: 'h' + uid('t') });
      await store.createDevice({ id: laptop, userId: u.id, name: 'laptop', createdAt: 20, tokenHash: laptopHash });
      await store.createDevice({ id: uid('d'), userId: other.id, name: 'theirs', createdAt: 15, tokenHash: 'h' + uid('t') });
      assert.deepEqual(await store.listDevices(u.id, 100), [
        { id: phone, userId: u.id, name: 'phone', createdAt: 10, lastActiveAt: null },
        { id: laptop, userId: u.id, name: 'laptop', createdAt: 20, lastActiveAt: null },
      ]);
      await store.touchDevice(laptop, 500);
      await store.touchDevice(laptop, 400);
      assert.equal((await store.listDevices(u.id, 100))[1]?.lastActiveAt, 500);
      assert.equal(await store.revokeUserDevice(other.id, laptop, 600), false, "another user's device");
      assert.equal((await store.deviceByTokenHash(laptopHash))?.id, laptop, 'still live');
      assert.equal(await store.revokeUserDevice(u.id, laptop, 600), true);
      assert.equal(await store.deviceByTokenHash(laptopHash), null, 'the token stops working');
      assert.equal(await store.revokeUserDevice(u.id, laptop, 700), false, 'already revoked');
      assert.deepEqual(
        (await store.listDevices(u.id, 100)).map((d) => d.id),
        [phone],
      );
      assert.equal((await store.listDevices(u.id, 1)).length, 1, 'the list is bounded');
      assert.equal((await store.deviceByTokenHash(laptopHash)) ?? null, null);
    });

    test('a password hash is replaced only if it is still the one the caller read', async () => {
      const u = await user(store);
      await store.setPasswordHash(u.id, u.passwordHash, 'scrypt$new');
      assert.equal((await store.getUser(u.id))?.passwordHash, 'scrypt$new');
      await store.setPasswordHash(u.id, u.passwordHash, 'scrypt$stale');
      assert.equal((await store.getUser(u.id))?.passwordHash, 'scrypt$new', 'a stale rehash changes nothing');
    });

    test('the first append creates the direct chat; seq is gap-free and idempotent on client_msg_id', async () => {
      const { a, b, chatId, first } = await dm();
      const [r1] = await store.append([first]);
      assert.equal(r1!.message!.seq, 1);
      assert.equal(r1!.duplicate, false);
      const many = await Promise.all(Array.from({ length: 50 }, () => store.append([req(chatId, b.id)])));
      assert.deepEqual(
        many.map((r) => r[0]!.message!.seq).sort((x, y) => x - y),
        Array.from({ length: 50 }, (_, i) => i + 2),
      );
      const [dup] = await store.append([{ ...first, messageId: uid('m') }]);
      assert.equal(dup!.duplicate, true);
      assert.equal(dup!.message!.message_id, first.messageId);
      assert.equal((await store.getChat(chatId))?.lastSeq, 51);
      assert.equal((await store.getMembers(chatId)).length, 2);
      assert.ok(await store.shareAChat(a.id, b.id));
    });

    test('history pages forward with after and backward with before', async () => {
      const { a, chatId, first } = await dm();
      await store.append([first]);
      for (let i = 0; i < 9; i++) await store.append([req(chatId, a.id, { content: `m${i + 2}` })]);
      const latest = await store.history(chatId, { limit: 3, minSeq: 0 });
      assert.deepEqual(
        latest.map((m) => m.seq),
        [8, 9, 10],
      );
      const before = await store.history(chatId, { before: 8, limit: 3, minSeq: 0 });
      assert.deepEqual(
        before.map((m) => m.seq),
        [5, 6, 7],
      );
      const afterPage = await store.history(chatId, { after: 2, limit: 3, minSeq: 0 });
      assert.deepEqual(
        afterPage.map((m) => m.seq),
        [3, 4, 5],
      );
      const hidden = await store.history(chatId, { limit: 50, minSeq: 6 });
      assert.deepEqual(
        hidden.map((m) => m.seq),
        [7, 8, 9, 10],
      );
      assert.deepEqual(
        (await store.range(chatId, 4, 6, 10)).map((m) => m.seq),
        [5, 6],
      );
    });

    test('a device is owed what is above its cursor, and a new device only what comes after it', async () => {
      const { a, b, chatId, first } = await dm();
      await store.append([first, req(chatId, a.id)]);
      const old = uid('d');
      await store.createDevice({ id: old, userId: b.id, name: 'old', createdAt: 1, tokenHash: uid('t') });
      assert.deepEqual(await store.pendingChats(old, b.id), []);
      await store.append([req(chatId, a.id)]);
      assert.deepEqual(await store.pendingChats(old, b.id), [{ chatId, afterSeq: 2, lastSeq: 3 }]);
      const never = uid('d'); // a device with no cursor row in a chat created later is owed it all
      const { chatId: other, first: f2 } = await dm();
      void never;
      await store.append([f2]);
      assert.equal((await store.pendingChats(uid('d'), f2.senderId)).length, 1);
      assert.equal(other.length > 0, true);
    });

    test('delivered and read cursors only move forward and leave receipt times', async () => {
      const { a, b, chatId, first } = await dm();
      await store.append([first, req(chatId, a.id), req(chatId, a.id)]);
      const dev = uid('d');
      const d1 = await store.advanceDelivered(dev, b.id, chatId, 2, 100);
      assert.deepEqual([d1.from, d1.to], [0, 2]);
      const back = await store.advanceDelivered(dev, b.id, chatId, 1, 101);
      assert.deepEqual([back.from, back.to], [2, 2]);
      assert.deepEqual(await store.pendingChats(dev, b.id), [{ chatId, afterSeq: 2, lastSeq: 3 }]);
      const counts = (seqs: number[]) =>
        store.receiptCounts(
          chatId,
          seqs.map((seq) => ({ seq, sender_id: a.id })),
        );
      assert.deepEqual(await counts([2, 3]), [
        { delivered: 1, read: 0, members: 1 },
        { delivered: 0, read: 0, members: 1 },
      ]);
      const { read, delivered } = await store.advanceRead(dev, b.id, chatId, 3, 200);
      assert.deepEqual(await counts([3, 1]), [
        { delivered: 1, read: 1, members: 1 },
        { delivered: 1, read: 1, members: 1 },
      ]);
      assert.deepEqual(await counts([]), []);
      assert.deepEqual([read.from, read.to, delivered.from, delivered.to], [0, 3, 2, 3]);
      const m1 = (await store.range(chatId, 0, 1, 1))[0] as StoredMessage;
      const m3 = (await store.range(chatId, 2, 3, 1))[0] as StoredMessage;
      assert.deepEqual(await store.receipts(m1), [{ userId: b.id, deliveredAt: 100, readAt: 200 }]);
      assert.deepEqual(await store.receipts(m3), [{ userId: b.id, deliveredAt: 200, readAt: 200 }]);
      const latest = await store.latestBySender(chatId, 0, 3, b.id);
      assert.deepEqual(
        latest.map((m) => m.seq),
        [3],
      );
      const rows = await store.listChats(b.id);
      assert.equal(rows.find((r) => r.chat.id === chatId)?.unreadCount, 0);
      assert.equal((await store.listChats(a.id)).find((r) => r.chat.id === chatId)?.lastMessage?.seq, 3);
    });

    test('unread counts: others’ messages above the read position; changes and one’s own never count, deleted ones still do', async () => {
      const [a, b, c, d] = [await user(store), await user(store), await user(store), await user(store)];
      const chatId = await group(store, a.id, [b.id, c.id]);
      const unread = async (u: string) => (await store.listChats(u)).find((r) => r.chat.id === chatId)!.unreadCount;
      const counts = async () => [await unread(a.id), await unread(b.id), await unread(c.id)];
      // One batch (seqs 1-3 by a, 4 by b), then 5 by a.
      const sent = await store.append([req(chatId, a.id), req(chatId, a.id), req(chatId, a.id), req(chatId, b.id)]);
      await store.append([req(chatId, a.id)]);
      assert.deepEqual(await counts(), [1, 4, 5]);
      const [m1, m2, m3] = sent.map((r) => r.message!);
      const change = (senderId: string, targetId: string, action: 'edit' | 'delete' | 'react', over = {}) =>
        store.applyChange({
          messageId: uid('x'),
          chatId,
          senderId,
          senderDeviceId: 'dev',
          clientMsgId: uid('cx'),
          createdAt: Date.now(),
          editWindowMs: 60_000,
          deleteWindowMs: 60_000,
          targetId,
          action,
          ...over,
        });
      assert.ok((await change(b.id, m1!.message_id, 'react', { emoji: '👍' })).entry); // seq 6
      assert.ok((await change(a.id, m2!.message_id, 'edit', { content: 'edited' })).entry); // seq 7
      assert.ok((await change(a.id, m3!.message_id, 'delete')).entry); // seq 8
      assert.deepEqual(await counts(), [1, 4, 5], 'changes are no messages; a deleted message is still one');
      // a reads past two of its own messages only: b's message is still above.
      await store.advanceRead('da', a.id, chatId, 2, 10);
      assert.equal(await unread(a.id), 1);
      await store.advanceRead('da', a.id, chatId, 4, 11);
      assert.equal(await unread(a.id), 0, 'read up to b’s message; a’s own message 5 is above, not unread');
      await store.advanceRead('da', a.id, chatId, 3, 12);
      assert.equal(await unread(a.id), 0, 'a cursor does not move back');
      // c reads up to a change (the edit, seq 7): every message is at or below it.
      await store.advanceRead('dc', c.id, chatId, 7, 13);
      assert.equal(await unread(c.id), 0);
      await store.advanceDelivered('dc', c.id, chatId, 8, 14);
      assert.equal(await unread(c.id), 0, 'delivery is not reading');
      await store.append([req(chatId, a.id), req(chatId, b.id)]); // 9, 10
      assert.deepEqual(await counts(), [1, 5, 2]);
      // b reads exactly its own latest message: nothing of its own is left above.
      await store.advanceRead('db', b.id, chatId, 10, 15);
      assert.deepEqual(await counts(), [1, 0, 2]);
      // A member added later counts from joining; one removed and added again starts over.
      assert.deepEqual(await store.addMembers(chatId, a.id, [d.id], 16, 1024), { added: [d.id] });
      assert.equal(await unread(d.id), 0);
      assert.equal(await store.removeMember(chatId, a.id, c.id), 'removed');
      assert.deepEqual(await store.addMembers(chatId, a.id, [c.id], 17, 1024), { added: [c.id] });
      assert.equal(await unread(c.id), 0);
      await store.append([req(chatId, b.id), req(chatId, c.id)]); // 11, 12
      assert.deepEqual([...(await counts()), await unread(d.id)], [3, 1, 1, 2]);
      // A direct chat: the first message creates it; its sender has nothing unread.
      const e = await user(store);
      const dmId = `dm:${a.id < e.id ? a.id : e.id}:${a.id < e.id ? e.id : a.id}`;
      await store.append([req(dmId, e.id, { createDirectWith: [a.id, e.id] }), req(dmId, e.id, { createDirectWith: [a.id, e.id] })]);
      const dmUnread = async (u: string) => (await store.listChats(u)).find((r) => r.chat.id === dmId)!.unreadCount;
      assert.deepEqual([await dmUnread(a.id), await dmUnread(e.id)], [2, 0]);
    });

    test('unread counts in a direct chat: the other’s messages above the read position, whoever created it; changes never count', async () => {
      const [a, e] = [await user(store), await user(store)];
      const dmId = `dm:${a.id < e.id ? a.id : e.id}:${a.id < e.id ? e.id : a.id}`;
      const dm = (from: string) => req(dmId, from, { createDirectWith: [a.id, e.id] });
      const unread = async (u: string) => (await store.listChats(u)).find((r) => r.chat.id === dmId)!.unreadCount;
      const counts = async () => [await unread(a.id), await unread(e.id)];
      // e creates it; one batch of both, then a alone: e 1, a 2, e 3, a 4.
      const sent = await store.append([dm(e.id), dm(a.id), dm(e.id)]);
      await store.append([dm(a.id)]);
      assert.deepEqual(await counts(), [2, 2]);
      await store.applyChange({
        messageId: uid('x'),
        chatId: dmId,
        senderId: a.id,
        senderDeviceId: 'dev',
        clientMsgId: uid('cx'),
        createdAt: Date.now(),
        editWindowMs: 60_000,
        deleteWindowMs: 60_000,
        targetId: sent[0]!.message!.message_id,
        action: 'react',
        emoji: '👍',
      }); // seq 5
      assert.deepEqual(await counts(), [2, 2], 'a reaction is no message');
      await store.advanceRead('da', a.id, dmId, 2, 10);
      assert.deepEqual(await counts(), [1, 2], 'a read past e’s 1 and its own 2');
      await store.advanceRead('de', e.id, dmId, 5, 11);
      assert.deepEqual(await counts(), [1, 0], 'e read up to the reaction: everything is at or below it');
      await store.append([dm(e.id), dm(e.id)]); // 6, 7
      assert.deepEqual(await counts(), [3, 0]);
      await store.advanceRead('da', a.id, dmId, 6, 12);
      assert.deepEqual(await counts(), [1, 0]);
      await store.append([dm(a.id)]); // 8
      assert.deepEqual(await counts(), [1, 1]);
      await store.advanceRead('da', a.id, dmId, 8, 13);
      assert.deepEqual(await counts(), [0, 1]);
      // A chat with oneself: nothing in it is ever unread.
      const selfId = `dm:${a.id}:${a.id}`;
      await store.append([req(selfId, a.id, { createDirectWith: [a.id] }), req(selfId, a.id, { createDirectWith: [a.id] })]);
      assert.equal((await store.listChats(a.id)).find((r) => r.chat.id === selfId)!.unreadCount, 0);
    });

    test('group members added later see only later messages; removed members are gone', async () => {
      const a = await user(store);
      const b = await user(store);
      const c = await user(store);
      const chatId = await group(store, a.id, [b.id], 'team');
      await store.append([req(chatId, a.id), req(chatId, b.id)]);
      assert.deepEqual(await store.addMembers(chatId, a.id, [c.id, b.id], 5, 1024), { added: [c.id] });
      const cm = await store.getMember(chatId, c.id);
      assert.equal(cm?.joinedSeq, 2);
      assert.deepEqual(await store.pendingChats(uid('d'), c.id), []);
      await store.append([req(chatId, a.id)]);
      assert.deepEqual(await store.pendingChats(uid('d'), c.id), [{ chatId, afterSeq: 2, lastSeq: 3 }]);
      assert.equal(await store.removeMember(chatId, a.id, b.id), 'removed');
      assert.equal(await store.removeMember(chatId, a.id, b.id), 'not_a_member');
      assert.equal(await store.getMember(chatId, b.id), null);
      await store.renameGroup(chatId, 'renamed');
      assert.equal((await store.getChat(chatId))?.name, 'renamed');
      assert.deepEqual(
        (await store.getMembers(chatId)).map((m) => [m.userId, m.role]),
        [
          [a.id, 'admin'],
          [c.id, 'member'],
        ],
      );
    });

    test('membership changes are checked in the store: admins only, the size cap, a group always keeps an admin', async () => {
      const [a, b, c, d] = [await user(store), await user(store), await user(store), await user(store)];
      const outsider = await user(store);
      const chatId = await group(store, a.id, [b.id], 'g');
      assert.equal(await store.addMembers(chatId, b.id, [c.id], 2, 1024), 'forbidden');
      assert.equal(await store.addMembers(chatId, outsider.id, [c.id], 2, 1024), 'no_such_group');
      assert.equal(await store.addMembers(`g:${uid('none')}`, a.id, [c.id], 2, 1024), 'no_such_group');
      assert.equal(await store.addMembers(chatId, a.id, [c.id, d.id], 2, 3), 'too_large');
      assert.deepEqual(await store.addMembers(chatId, a.id, [c.id], 2, 3), { added: [c.id] });
      assert.equal(await store.removeMember(chatId, b.id, c.id), 'forbidden');
      assert.equal(await store.removeMember(chatId, outsider.id, outsider.id), 'no_such_group');
      // The last admin leaves: the oldest remaining member becomes admin in the same write.
      assert.equal(await store.removeMember(chatId, a.id, a.id), 'removed');
      assert.deepEqual(
        (await store.getMembers(chatId)).map((m) => [m.userId, m.role]),
        [
          [b.id, 'admin'],
          [c.id, 'member'],
        ],
      );
      // Two leave at once: whatever the order, someone is left as admin.
      const both = await Promise.all([store.removeMember(chatId, b.id, b.id), store.removeMember(chatId, c.id, c.id)]);
      assert.deepEqual(both, ['removed', 'removed']);
      assert.deepEqual(await store.getMembers(chatId), []);
    });

    test('an append checked against an old membership version is checked again: a removed sender stores nothing, a member is stored', async () => {
      const [a, b, c] = [await user(store), await user(store), await user(store)];
      const chatId = await group(store, a.id, [b.id], 'g');
      const v0 = (await store.getMembership(chatId))!;
      assert.deepEqual(v0.members.map((m) => m.userId).sort(), [a.id, b.id].sort());
      const [ok] = await store.append([req(chatId, b.id, { membersVersion: v0.version })]);
      assert.deepEqual([ok!.message?.seq, ok!.membersVersion], [1, v0.version]);
      assert.equal(await store.removeMember(chatId, a.id, b.id), 'removed');
      const v1 = (await store.getMembership(chatId))!;
      assert.notEqual(v1.version, v0.version);
      assert.deepEqual(
        v1.members.map((m) => m.userId),
        [a.id],
      );
      // b was checked against v0 and removed since: refused, no seq taken.
      const [refused] = await store.append([req(chatId, b.id, { membersVersion: v0.version })]);
      assert.equal(refused!.notMember, true);
      assert.equal((await store.getChat(chatId))?.lastSeq, 1, 'no seq taken');
      // a was checked against v0 too but is still a member: stored, under v1.
      const [kept] = await store.append([req(chatId, a.id, { membersVersion: v0.version })]);
      assert.deepEqual([kept!.message?.seq, kept!.membersVersion], [2, v1.version]);
      assert.deepEqual(await store.addMembers(chatId, a.id, [c.id], 3, 1024), { added: [c.id] });
      assert.ok((await store.getMembership(chatId))!.version > v1.version);
      assert.equal(await store.getMembership(`g:${uid('none')}`), null);
    });

    test("search finds words and prefixes in the caller's chats only, newest first", async () => {
      const { a, b, chatId, first } = await dm();
      const word = `zebra${counter}q`;
      await store.append([{ ...first, content: `the ${word} crossing` }]);
      await store.append([req(chatId, b.id, { content: `another ${word}` })]);
      const stranger = await user(store);
      const hits = await store.search(a.id, [word.slice(0, 6)], { limit: 10 });
      assert.deepEqual(
        hits.map((m) => m.seq),
        [2, 1],
      );
      assert.deepEqual(await store.search(stranger.id, [word], { limit: 10 }), []);
      assert.equal((await store.search(a.id, [word, 'crossing'], { chatId, limit: 10 })).length, 1);
    });

    test('push targets: one per device, replaced by the next, removed by delete (only the named one) and with the session', async () => {
      const a = await user(store);
      const b = await user(store);
      const [phone, laptop, other] = [uid('d'), uid('d'), uid('d')];
      for (const [id, userId] of [
        [phone, a.id],
        [laptop, a.id],
        [other, b.id],
      ] as const)
        await store.createDevice({ id, userId, name: 'x', createdAt: 1, tokenHash: uid('t') });
      const wp = { provider: 'webpush' as const, endpoint: 'https://push.example/1', p256dh: 'k', auth: 'a' };
      const apns = { provider: 'apns' as const, token: 'ab'.repeat(32), environment: 'sandbox' as const };
      const fcm = { provider: 'fcm' as const, token: 'tok:1' };
      await store.setPushTarget(phone, a.id, wp);
      await store.setPushTarget(phone, a.id, apns); // replaces the Web Push subscription
      await store.setPushTarget(laptop, a.id, fcm);
      await store.setPushTarget(other, b.id, wp);
      await store.setPushTarget(other, a.id, fcm); // not a.id's device: nothing stored
      const byDevice = (rows: Awaited<ReturnType<Store['pushTargets']>>) =>
        Object.fromEntries(rows.map((r) => [r.deviceId, { userId: r.userId, target: r.target }]));
      assert.deepEqual(byDevice(await store.pushTargets([a.id])), {
        [phone]: { userId: a.id, target: apns },
        [laptop]: { userId: a.id, target: fcm },
      });
      assert.deepEqual(byDevice(await store.pushTargets([b.id])), { [other]: { userId: b.id, target: wp } });

      await store.deletePushTarget(laptop, { provider: 'fcm', token: 'an older token' }); // not the current one: kept
      assert.equal((await store.pushTargets([a.id])).length, 2);
      await store.deletePushTarget(laptop, fcm);
      assert.deepEqual(Object.keys(byDevice(await store.pushTargets([a.id, b.id]))).sort(), [phone, other].sort());
      await store.deletePushTarget(other);
      await store.revokeDevice(phone, 2); // logout takes the target with it
      assert.deepEqual(await store.pushTargets([a.id, b.id]), []);
      await store.setPushTarget(phone, a.id, wp); // a revoked session cannot register
      assert.deepEqual(await store.pushTargets([a.id]), []);
    });

    // Last: retention erases every old row of the store, whichever test made it.
    test('retention keeps unread counts exact: expired messages are neither unread nor counted as own', async () => {
      const { a, b, chatId, first } = await dm();
      // After every row other tests made: SQLite's retention walks rowid (commit) order.
      const t0 = Date.now() + 60_000;
      const at = [1, 2, 3, 10_000, 10_001, 10_002].map((ms) => t0 + ms);
      const seqs: number[] = [];
      for (let i = 0; i < at.length; i++) {
        const from = i % 2 === 0 ? a.id : b.id;
        const [r] = await store.append([i === 0 ? { ...first, createdAt: at[i]! } : req(chatId, from, { createdAt: at[i]! })]);
        seqs.push(r!.message!.seq);
      }
      const unread = async (userId: string) => (await store.listChats(userId)).find((r) => r.chat.id === chatId)!.unreadCount;
      const expire = async (before: number) => {
        while ((await store.expireMessages(before, 1))?.more);
      };
      // Nobody has read: a has b's three, b has a's three.
      assert.deepEqual([await unread(a.id), await unread(b.id)], [3, 3]);
      await expire(t0 + 4); // seqs 1-3 (a, b, a) go
      assert.deepEqual([await unread(a.id), await unread(b.id)], [2, 1], 'what is left: b has 4 and 6, a has 5');
      await store.advanceRead('dev-' + b.id, b.id, chatId, seqs[3]!, t0 + 10_003);
      assert.equal(await unread(b.id), 1, 'b read up to its own 4: a 5 is left');
      await expire(t0 + 10_002); // seqs 4 and 5 go: only b's 6 is left
      assert.deepEqual([await unread(a.id), await unread(b.id)], [1, 0]);
      await expire(t0 + 10_003);
      assert.deepEqual([await unread(a.id), await unread(b.id)], [0, 0], 'an emptied chat');
      const [next] = await store.append([req(chatId, b.id, { createdAt: t0 + 10_004 })]);
      assert.ok(next!.message!.seq > seqs[5]!);
      assert.deepEqual([await unread(a.id), await unread(b.id)], [1, 0], 'the counters go on from there');
    });

    // After the one above: every row of the store is old by now.
    test('retention takes expired messages out of search, also when every row expired and new ones reuse their place', async () => {
      const { a, chatId, first } = await dm();
      const t0 = Date.now() + 120_000;
      const oldWord = `gone${uid('w').replace(/[^a-z0-9]/gi, '')}`;
      const newWord = `kept${uid('w').replace(/[^a-z0-9]/gi, '')}`;
      await store.append([{ ...first, content: `${oldWord} one`, createdAt: t0 }]);
      await store.append([req(chatId, a.id, { content: `${oldWord} two`, createdAt: t0 + 1 })]);
      assert.equal((await store.search(a.id, [oldWord], { limit: 10 })).length, 2, 'indexed');
      while ((await store.expireMessages(t0 + 2, 10))?.more);
      assert.deepEqual(await store.search(a.id, [oldWord], { limit: 10 }), [], 'expired: not found');
      // Every row is gone: the store may hand their places to the next messages.
      const [next] = await store.append([req(chatId, a.id, { content: `${newWord} three`, createdAt: t0 + 3 })]);
      await store.append([req(chatId, a.id, { content: `${newWord} four`, createdAt: t0 + 4 })]);
      assert.deepEqual(await store.search(a.id, [oldWord], { limit: 10 }), [], 'the old word finds nothing in their place');
      const found = await store.search(a.id, [newWord], { limit: 10 });
      assert.equal(found.length, 2);
      assert.ok(found.some((m) => m.message_id === next!.message!.message_id));
    });
  });
}
