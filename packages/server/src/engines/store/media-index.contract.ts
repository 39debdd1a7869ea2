import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Attachment } from '@switchboard/protocol';
import type { MediaRecord } from './media-index.js';
import type { Store } from './store.js';

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
      assert.equal(await store.media.attach([a.id, 'gone'], 'msg1'), 1);
      assert.equal(await store.media.attach([a.id], 'msg2'), 1, 'media may be sent again');
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

    test('orphans: old unattached uploads and their thumbnails are taken once; attached and young ones stay', async () => {
      const owner = uid('u');
      const old = media(owner, { createdAt: 10 });
      const oldThumb = media(owner, { createdAt: 11, parentId: old.id });
      const sent = media(owner, { createdAt: 10 });
      const young = media(owner, { createdAt: 5_000_000 });
      for (const m of [old, oldThumb, sent, young]) await store.media.create(m);
      await store.media.attach([sent.id], 'msg');
      // Two sweepers at once: each record goes to one of them.
      const [x, y] = await Promise.all([store.media.takeOrphans(1_000_000, 100), store.media.takeOrphans(1_000_000, 100)]);
      const taken = [...x, ...y].map((m) => m.id).filter((id) => [old.id, oldThumb.id, sent.id, young.id].includes(id));
      assert.deepEqual(taken.sort(), [old.id, oldThumb.id].sort());
      assert.deepEqual(
        (await store.media.get([old.id, oldThumb.id, sent.id, young.id])).map((m) => m.id).sort(),
        [sent.id, young.id].sort(),
      );
      assert.equal(await store.media.attach([old.id], 'late'), 0, 'a swept upload cannot be attached');
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
        await store.getMessage(withFiles!.message!.message_id),
        (await store.range(chatId, 0, 10, 10))[0],
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
      assert.equal((await store.range(chatId, 1, 10, 10))[0]!.attachments, undefined);
    });
  });
}
