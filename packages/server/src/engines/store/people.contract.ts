import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import type { AppendRequest, Store, UserRecord } from './store.js';

/*
 * The contract of the store's people part (people.ts): profiles, prefix search, contacts,
 * blocks, and avatars kept from the orphan sweep. Run by sqlite-people.test.ts and
 * postgres-people.test.ts.
 */

let n = 0;
const tag = () => `c${process.pid.toString(36)}${(++n).toString(36)}${randomBytes(2).toString('hex')}`;

export function runPeopleContract(name: string, open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>): void {
  describe(`people store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(() => cleanup?.());
    const user = async (username: string) => {
      const u = await store.createUser({ id: `id-${username}`, username, displayName: username, passwordHash: 'x', createdAt: 1 });
      assert.notEqual(u, 'username_taken');
      return `id-${username}`;
    };

    test('profiles: fields left out are kept; users read back with about and avatar', async () => {
      const t = tag();
      const id = await user(`${t}a`);
      assert.equal((await store.getUser(id))!.about, '');
      assert.equal((await store.getUser(id))!.avatar, null);
      await store.people.setProfile(id, { about: 'hello' });
      const [m1, m2] = [`${t}m1`, `${t}m2`];
      for (const [mid, parentId] of [
        [m1, null],
        [m2, m1],
      ] as const) {
        await store.media.create({
          id: mid,
          ownerId: id,
          contentType: 'image/png',
          size: 10,
          filename: null,
          createdAt: 1_000,
          parentId,
          attached: false,
          info: null,
        });
      }
      const avatar = { media_id: m1, thumbnail: { media_id: m2, content_type: 'image/webp', width: 10, height: 5 } };
      const u = (await store.people.setProfile(id, { displayName: 'A', avatar })) as UserRecord;
      assert.deepEqual([u.displayName, u.about, u.avatar], ['A', 'hello', avatar]);
      assert.deepEqual((await store.getUserByUsername(`${t}a`))!.avatar, avatar);
      assert.equal(await store.people.isAvatar(m1), true);
      assert.equal(await store.people.isAvatar(m2), false);
      // Media erased since core checked it: nothing changes.
      const gone = { media_id: `${t}gone`, thumbnail: null };
      assert.equal(await store.people.setProfile(id, { displayName: 'B', avatar: gone }), 'media_gone');
      assert.equal((await store.getUser(id))!.displayName, 'A');
      await store.people.setProfile(id, { avatar: null });
      assert.equal(await store.people.isAvatar(m1), false);
      assert.equal(await store.people.setProfile('nobody', { about: 'x' }), null);
    });

    test('prefix search: a range in byte order, at most limit, _ and % are plain characters', async () => {
      const t = tag();
      for (const s of ['b', '_x', 'a.', 'a', '%']) await user(`${t}${s}`);
      const names = async (p: string, limit = 20) => (await store.people.usersByPrefix(p, limit)).map((u) => u.username.slice(t.length));
      assert.deepEqual(await names(t), ['%', '_x', 'a', 'a.', 'b']);
      assert.deepEqual(await names(t, 2), ['%', '_x']);
      assert.deepEqual(await names(`${t}a`), ['a', 'a.']);
      assert.deepEqual(await names(`${t}_`), ['_x']);
      assert.deepEqual(await names(`${t}%`), ['%']);
      assert.deepEqual(await names(`${t}z`), []);
    });

    test('contacts and blocks: idempotent, bounded, unknown users refused, both directions readable', async () => {
      const t = tag();
      const [a, b, c] = [await user(`${t}a`), await user(`${t}b`), await user(`${t}c`)];
      assert.equal(await store.people.addContact(a, c, 1, 2), 'ok');
      assert.equal(await store.people.addContact(a, b, 2, 2), 'ok');
      assert.equal(await store.people.addContact(a, b, 3, 2), 'ok');
      assert.equal(await store.people.addContact(a, a, 3, 2), 'too_many');
      assert.equal(await store.people.addContact(a, 'nobody', 3, 2), 'no_such_user');
      assert.deepEqual(
        (await store.people.contacts(a)).map((u) => u.id),
        [b, c],
      );
      await store.people.removeContact(a, b);
      assert.deepEqual(
        (await store.people.contacts(a)).map((u) => u.id),
        [c],
      );

      assert.equal(await store.people.block(a, b, 1, 1), 'ok');
      assert.equal(await store.people.block(a, b, 2, 1), 'ok');
      assert.equal(await store.people.block(a, c, 2, 1), 'too_many');
      assert.equal(await store.people.block(c, a, 3, 1), 'ok');
      assert.equal(await store.people.block(c, 'nobody', 3, 5), 'no_such_user');
      assert.deepEqual(await store.people.blocked(a), [b]);
      assert.equal(await store.people.isBlocked(a, b), true);
      assert.equal(await store.people.isBlocked(b, a), false);
      assert.deepEqual((await store.people.blockRelations(a)).sort(), [b, c].sort());
      assert.deepEqual(await store.people.blockRelations(b), [a]);
      assert.deepEqual(await store.people.blockersAmong(a, [b, c]), [c]);
      assert.deepEqual(await store.people.blockersAmong(b, [a, c]), [a]);
      await store.people.unblock(a, b);
      assert.deepEqual(await store.people.blocked(a), []);
      assert.equal(await store.people.isBlocked(a, b), false);
    });

    test('directState: a deletion, a block and encryption, read together', async () => {
      const t = tag();
      const [a, b] = [await user(`${t}a`), await user(`${t}b`)];
      const dm = directChatId(a, b);
      const none = { otherDeleted: false, blocked: false, encrypted: false };
      assert.deepEqual(await store.directState(dm, a, b), none);
      assert.equal(await store.people.block(b, a, 1, 5), 'ok');
      assert.deepEqual(await store.directState(dm, a, b), { ...none, blocked: true });
      // Only the other side's block refuses a's sends.
      assert.deepEqual(await store.directState(dm, b, a), none);
      assert.notEqual(await store.admin.deleteUser(b, 2), null);
      assert.equal((await store.directState(dm, a, b)).otherDeleted, true);
      // The encryption flag is the chat's (a group is made encrypted at creation; a direct chat by its first commit).
      const g = `g:${t}`;
      await store.createGroup({
        chatId: g,
        name: 'g',
        createdBy: a,
        createdAt: 1,
        members: [{ userId: a, role: 'admin' }],
        encrypted: true,
      });
      assert.equal((await store.directState(g, a, b)).encrypted, true);
    });

    test('append with directWith: refused on a block, a deleted account or an encryption mismatch; a repeat stays a duplicate', async () => {
      const t = tag();
      const [a, b] = [await user(`${t}a`), await user(`${t}b`)];
      const chatId = directChatId(a, b);
      const send = (clientMsgId: string, over: Partial<AppendRequest> = {}): AppendRequest => ({
        messageId: `${t}${clientMsgId}`,
        chatId,
        senderId: a,
        senderDeviceId: `${a}-d`,
        clientMsgId,
        content: 'hi',
        createdAt: 5,
        createDirectWith: [a, b].sort(),
        directWith: b,
        ...over,
      });
      const [first] = await store.append([send('m1')]);
      assert.equal(first!.message?.seq, 1);
      assert.deepEqual(await store.append([send('m2', { content: '', ciphertext: 'AAAA' })]), [{ refused: 'not_encrypted' }]);
      assert.equal(await store.people.block(b, a, 6, 5), 'ok');
      const [blocked, repeat, self] = await store.append([send('m3'), send('m1'), send('m4', { senderId: b, directWith: a })]);
      assert.deepEqual(blocked, { refused: 'blocked' });
      assert.equal(repeat!.duplicate, true);
      assert.equal(repeat!.message?.seq, 1);
      // The blocker itself may still write.
      assert.equal(self!.message?.seq, 2);
      await store.people.unblock(b, a);
      assert.notEqual(await store.admin.deleteUser(b, 7), null);
      assert.deepEqual(await store.append([send('m5')]), [{ refused: 'deleted' }]);
      assert.equal((await store.history(chatId, { limit: 10, minSeq: 0 })).length, 2);
    });

    test('an avatar is kept from the orphan sweep; the one it replaces goes back to it', async () => {
      const t = tag();
      const id = await user(`${t}a`);
      const upload = (mid: string, parentId: string | null = null) =>
        store.media.create({
          id: mid,
          ownerId: id,
          contentType: 'image/png',
          size: 10,
          filename: null,
          createdAt: 1_000,
          parentId,
          attached: false,
          info: null,
        });
      const [first, thumb, second] = [`${t}m1`, `${t}m1t`, `${t}m2`];
      await upload(first);
      await upload(thumb, first);
      await upload(second);
      await store.people.setProfile(id, { avatar: { media_id: first, thumbnail: null } });
      await store.people.setProfile(id, { avatar: { media_id: second, thumbnail: null } });
      await store.people.setProfile(id, { avatar: { media_id: second, thumbnail: null } });
      const swept: string[] = [];
      for (let i = 0; i < 50; i++) {
        const batch = await store.media.takeOrphans(2_000, 1000);
        if (batch.length === 0) break;
        swept.push(...batch.map((m) => m.id));
      }
      assert.ok(swept.includes(first), 'the replaced avatar is swept');
      assert.ok(!swept.includes(second), 'the current avatar is kept');
      assert.equal((await store.media.get([second])).length, 1);
    });
  });
}
