import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Attachment } from '@switchboard/protocol';
import type { MediaRecord } from './media-index.js';
import type { Store, StoredMessage } from './store.js';

/*
 * The contract of the store's media part (media-index.ts) and of attachments on stored
 * messages, for every store. Run by sqlite-media.test.ts and postgres-media.test.ts.
 */

let n = 0;
const uid = (p: string) => `${p}${process.pid}x${++n}x${randomBytes(3).toString('hex')}`;

function media(ownerId: string, over: Partial<MediaRecord> = {}): MediaRecord {
  return {
    id: uid('m'),
    ownerId,
    contentType: 'image/png',
    size: 100,
    filename: 'a.png',
    createdAt: 1_000,
    parentId: null,
    attached: false,
    info: null,
    ...over,
  };
}

export function runMediaIndexContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`media index contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(() => cleanup?.());

    test('records are created, read back and given what inspection found', async () => {
      const m = media(uid('u'));
      await store.media.create(m);
      assert.deepEqual(await store.media.get([m.id, 'missing']), [m]);
      const info = {
        servedType: 'image/png',
        width: 10,
        height: 20,
        thumbnail: { media_id: 't', content_type: 'image/png', width: 5, height: 10 },
      };
      await store.media.setInfo(m.id, info);
      assert.deepEqual((await store.media.get([m.id]))[0]!.info, info);
    });

    test('attach records the message, marks the media and its thumbnails, and counts only what exists', async () => {
      const owner = uid('u');
      const a = media(owner);
      const thumb = media(owner, { parentId: a.id });
      await store.media.create(a);
      await store.media.create(thumb);
      assert.equal(await store.media.attach([a.id, 'gone'], 'msg1', 2_000), 1);
      assert.equal(await store.media.attach([a.id], 'msg2', 3_000), 1, 'media may be sent again');
      assert.deepEqual((await store.media.messagesOf(a.id)).sort(), ['msg1', 'msg2']);
      const [ra, rt] = [(await store.media.get([a.id]))[0]!, (await store.media.get([thumb.id]))[0]!];
      assert.equal(ra.attached, true);
      assert.equal(rt.attached, true);
    });

    test('usage counts the bytes a user declared since a time, thumbnails aside', async () => {
      const owner = uid('u');
      await store.media.create(media(owner, { size: 10, createdAt: 500 }));
      await store.media.create(media(owner, { size: 20, createdAt: 2_000 }));
      await store.media.create(media(owner, { size: 40, createdAt: 3_000 }));
      await store.media.create(media(owner, { size: 1000, createdAt: 3_000, parentId: 'x' }));
      assert.deepEqual(await store.media.usageSince(owner, 1_000), { bytes: 60, oldest: 2_000 });
      assert.deepEqual(await store.media.usageSince(uid('nobody'), 0), { bytes: 0, oldest: null });
    });

    test('orphans: old unattached uploads and their thumbnails are taken once; recently attached and young ones stay', async () => {
      const owner = uid('u');
      const old = media(owner, { createdAt: 10 });
      const oldThumb = media(owner, { createdAt: 11, parentId: old.id });
      const sent = media(owner, { createdAt: 10 });
      const young = media(owner, { createdAt: 5_000_000 });
      for (const m of [old, oldThumb, sent, young]) await store.media.create(m);
      // Attached after the cutoff: its append may still be under way.
      await store.media.attach([sent.id], 'msg', 5_000_000);
      // Two sweepers at once: each record goes to one of them.
      const [x, y] = await Promise.all([store.media.takeOrphans(1_000_000, 100), store.media.takeOrphans(1_000_000, 100)]);
      const taken = [...x, ...y].map((m) => m.id).filter((id) => [old.id, oldThumb.id, sent.id, young.id].includes(id));
      assert.deepEqual(taken.sort(), [old.id, oldThumb.id].sort());
      assert.deepEqual(
        (await store.media.get([old.id, oldThumb.id, sent.id, young.id])).map((m) => m.id).sort(),
        [sent.id, young.id].sort(),
      );
      assert.equal(await store.media.attach([old.id], 'late', 5_000_000), 0, 'a swept upload cannot be attached');
    });

    /*
     * A send attaches its media before the append; when the append stores no message of
     * that id (the sender was no longer a member, a duplicate client_msg_id, a failure or a
     * crash), the media counts as never attached once the attach is older than the cutoff.
     */
    test('orphans: media whose sends stored no message is taken once those sends are old; a stored message keeps its media', async () => {
      const [u1, u2, u3] = [uid('id'), uid('id'), uid('id')];
      for (const id of [u1, u2, u3])
        await store.createUser({ id, username: id.slice(0, 32), displayName: id, passwordHash: 'x', createdAt: 1 });
      const chatId = `dm:${[u1, u2].sort().join(':')}`;
      const groupId = `g:${uid('g')}`;
      await store.createGroup({
        chatId: groupId,
        name: 'g',
        createdBy: u1,
        createdAt: 1,
        members: [
          { userId: u3, role: 'admin' },
          { userId: u1, role: 'member' },
        ],
      });
      const version = (await store.getMembership(groupId))!.version;
      const base = { senderId: u1, senderDeviceId: 'd', createdAt: 20 };
      const view = (m: MediaRecord): Attachment => ({ media_id: m.id, content_type: m.contentType, size: m.size, filename: m.filename });
      const send = async (chat: string, clientMsgId: string, ms: MediaRecord[], at: number, membersVersion?: number) => {
        const messageId = uid('msg');
        assert.equal(
          await store.media.attach(
            ms.map((m) => m.id),
            messageId,
            at,
          ),
          ms.length,
        );
        const [r] = await store.append([
          {
            ...base,
            chatId: chat,
            messageId,
            clientMsgId,
            content: '',
            attachments: ms.map(view),
            ...(chat === chatId ? { createDirectWith: [u1, u2] } : {}),
            ...(membersVersion !== undefined ? { membersVersion } : {}),
          },
        ]);
        return { messageId, result: r! };
      };

      // Stored, then sent again with the same client_msg_id (a retry): the stored message keeps it.
      const kept = media(u1, { createdAt: 10 });
      const keptThumb = media(u1, { createdAt: 11, parentId: kept.id });
      // Refused: the sender was removed from the group before the append.
      const refused = media(u1, { createdAt: 10 });
      const refusedThumb = media(u1, { createdAt: 11, parentId: refused.id });
      // A duplicate of an earlier send that carried no media: stored under the earlier message's id.
      const dup = media(u1, { createdAt: 10 });
      // Attached to a message never appended (a crash between the two), then sent for real.
      const later = media(u1, { createdAt: 10 });
      // Attached to a message never appended, after the cutoff: its append may still come.
      const fresh = media(u1, { createdAt: 10 });
      for (const m of [kept, keptThumb, refused, refusedThumb, dup, later, fresh]) await store.media.create(m);

      const first = await send(chatId, 'c-kept', [kept], 20);
      assert.equal(first.result.message?.message_id, first.messageId);
      const retry = await send(chatId, 'c-kept', [kept], 30);
      assert.deepEqual([retry.result.duplicate, retry.result.message?.message_id], [true, first.messageId]);

      assert.equal(await store.removeMember(groupId, u3, u1), 'removed');
      const refusedSend = await send(groupId, 'c-refused', [refused], 20, version);
      assert.equal(refusedSend.result.notMember, true);

      await store.append([
        { ...base, chatId, messageId: uid('msg'), clientMsgId: 'c-dup', content: 'no media', createDirectWith: [u1, u2] },
      ]);
      const dupSend = await send(chatId, 'c-dup', [dup], 20);
      assert.equal(dupSend.result.duplicate, true);
      assert.equal(dupSend.result.message?.attachments, undefined);

      assert.equal(await store.media.attach([later.id], uid('msg'), 20), 1);
      assert.ok((await send(chatId, 'c-later', [later], 25)).result.message);
      assert.equal(await store.media.attach([fresh.id], uid('msg'), 5_000_000), 1);

      const ids = [kept, keptThumb, refused, refusedThumb, dup, later, fresh].map((m) => m.id);
      const [x, y] = await Promise.all([store.media.takeOrphans(1_000_000, 100), store.media.takeOrphans(1_000_000, 100)]);
      const taken = [...x, ...y].map((m) => m.id).filter((id) => ids.includes(id));
      assert.deepEqual(taken.sort(), [refused.id, refusedThumb.id, dup.id].sort());
      assert.deepEqual((await store.media.get(ids)).map((m) => m.id).sort(), [kept.id, keptThumb.id, later.id, fresh.id].sort());
      assert.deepEqual(await store.media.messagesOf(refused.id), [], 'its refs went with it');
      assert.equal(await store.media.attach([dup.id], 'late', 5_000_000), 0, 'a swept upload cannot be attached');
      assert.deepEqual(((await store.getMessage(first.messageId)) as StoredMessage | null)?.attachments, [view(kept)]);
    });

    test('settle: media a stored message carries is no longer pending, and stays settled when sent again', async () => {
      const [u1, u2] = [uid('id'), uid('id')];
      for (const id of [u1, u2])
        await store.createUser({ id, username: id.slice(0, 32), displayName: id, passwordHash: 'x', createdAt: 1 });
      const chatId = `dm:${[u1, u2].sort().join(':')}`;
      const [a, b, unsent] = [media(u1), media(u1), media(u1)];
      for (const m of [a, b, unsent]) await store.media.create(m);
      const messageId = uid('msg');
      await store.media.attach([a.id, b.id], messageId, 20);
      await store.media.attach([unsent.id], uid('msg'), 20);
      const attachments = [a, b].map((m): Attachment => ({
        media_id: m.id,
        content_type: m.contentType,
        size: m.size,
        filename: m.filename,
      }));
      const base = { chatId, senderId: u1, senderDeviceId: 'd', createdAt: 20, createDirectWith: [u1, u2] };
      await store.append([{ ...base, messageId, clientMsgId: uid('c'), content: '', attachments }]);
      let settled = 0;
      for (let n; (n = await store.media.settle(1_000_000, 1)) > 0;) settled += n;
      assert.ok(settled >= 2, `settled ${settled}`);
      // Sent again in a message never stored: a stored message still carries it, nothing is due.
      await store.media.attach([a.id], uid('msg'), 40);
      assert.equal(await store.media.settle(1_000_000, 100), 0);
      const taken = (await store.media.takeOrphans(1_000_000, 100)).map((m) => m.id);
      assert.deepEqual(
        [a.id, b.id, unsent.id].filter((id) => taken.includes(id)),
        [unsent.id],
      );
      assert.deepEqual((await store.media.get([a.id, b.id])).length, 2);
    });

    test('a message keeps its attachments through every read; one without has none', async () => {
      const [u1, u2] = [uid('id'), uid('id')];
      for (const id of [u1, u2])
        await store.createUser({ id, username: id.slice(0, 32), displayName: id, passwordHash: 'x', createdAt: 1 });
      const chatId = `dm:${[u1, u2].sort().join(':')}`;
      const attachments: Attachment[] = [
        {
          media_id: 'm1',
          content_type: 'image/png',
          size: 5,
          filename: 'a.png',
          width: 4,
          height: 2,
          thumbnail: { media_id: 't1', content_type: 'image/png', width: 4, height: 2 },
        },
        { media_id: 'm2', content_type: 'application/pdf', size: 9, filename: null },
      ];
      const base = { chatId, senderId: u1, senderDeviceId: 'd', createdAt: 5, createDirectWith: [u1, u2] };
      const [withFiles, plain] = await store.append([
        { ...base, messageId: uid('msg'), clientMsgId: uid('c'), content: '', attachments },
        { ...base, messageId: uid('msg'), clientMsgId: uid('c'), content: 'text' },
      ]);
      assert.deepEqual(withFiles!.message!.attachments, attachments);
      assert.equal('attachments' in plain!.message!, false);
      const reads = [
        (await store.getMessage(withFiles!.message!.message_id)) as StoredMessage | null,
        (await store.range(chatId, 0, 10, 10))[0] as StoredMessage | undefined,
        (await store.history(chatId, { limit: 10, minSeq: 0 }))[0],
      ];
      for (const m of reads) assert.deepEqual(m?.attachments, attachments);
      const again = await store.append([
        { ...base, messageId: uid('msg'), clientMsgId: withFiles!.message!.client_msg_id, content: '', attachments },
      ]);
      assert.equal(again[0]!.duplicate, true);
      assert.deepEqual(again[0]!.message!.attachments, attachments);
      const last = (await store.listChats(u2)).find((c) => c.chat.id === chatId)!.lastMessage!;
      assert.equal('attachments' in last, false, 'the last message is the plain one');
      assert.equal(((await store.range(chatId, 1, 10, 10))[0] as StoredMessage).attachments, undefined);
    });
  });
}
