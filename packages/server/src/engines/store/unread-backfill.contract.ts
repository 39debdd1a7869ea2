import assert from 'node:assert/strict';
import type { Store } from './store.js';

/*
 * The unread counters' migration (the one adding chats.msg_count in sqlite-migrations.ts and
 * postgres-migrations.ts) counts the data already stored. Both stores' tests seed a chat
 * through the schema as it was before it, with `exec` (SQL with $1.. parameters), open the
 * store (which migrates), and check the counts, then that they keep moving.
 */

export type Exec = (sql: string, params: unknown[]) => Promise<void>;

/** A group of three users and six log rows, one a reaction, as stored before the counters. */
export async function seedBeforeCounters(exec: Exec, tag: string): Promise<{ chatId: string; users: [string, string, string] }> {
  const users = [`${tag}u1`, `${tag}u2`, `${tag}u3`] as [string, string, string];
  const chatId = `g:${tag}`;
  for (const u of users) {
    await exec('INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES ($1, $1, $1, $2, 1)', [u, 'x']);
  }
  await exec(`INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES ($1, 'group', 'g', $2, 1, 6, 1)`, [
    chatId,
    users[0],
  ]);
  // Read cursors: u1 at 0, u2 at its own message (2), u3 at 5.
  for (const [u, read] of [
    [users[0], 0],
    [users[1], 2],
    [users[2], 5],
  ] as const) {
    await exec(
      `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq) VALUES ($1, $2, 'member', 0, 1, $3, $3)`,
      [chatId, u, read],
    );
  }
  const rows: [seq: number, sender: string, kind: string][] = [
    [1, users[0], 'message'],
    [2, users[1], 'message'],
    [3, users[0], 'message'],
    [4, users[1], 'react'],
    [5, users[0], 'message'],
    [6, users[2], 'message'],
  ];
  for (const [seq, sender, kind] of rows) {
    await exec(
      `INSERT INTO messages (chat_id, seq, id, sender_id, sender_device_id, client_msg_id, content, created_at, kind, target_id)
       VALUES ($1, $2, $3, $4, 'd', $3, 'x', 1, $5, $6)`,
      [chatId, seq, `${tag}m${seq}`, sender, kind, kind === 'message' ? null : `${tag}m1`],
    );
  }
  return { chatId, users };
}

/** The counts the migration must arrive at, and that the counters then move with reads and sends. */
export async function checkBackfilledCounts(store: Store, chatId: string, users: [string, string, string]): Promise<void> {
  const unread = async (u: string) => (await store.listChats(u)).find((r) => r.chat.id === chatId)!.unreadCount;
  const all = async () => Promise.all(users.map(unread));
  // u1: u2's 2 and u3's 6. u2: u1's 3 and 5, u3's 6. u3: only its own 6 above its cursor.
  assert.deepEqual(await all(), [2, 3, 0]);
  await store.advanceRead('d1', users[0], chatId, 4, 10);
  assert.deepEqual(await all(), [1, 3, 0]);
  await store.append([
    { messageId: `${chatId}n7`, chatId, senderId: users[1], senderDeviceId: 'd', clientMsgId: 'n7', content: 'x', createdAt: 2 },
  ]);
  assert.deepEqual(await all(), [2, 3, 1]);
  await store.advanceRead('d2', users[1], chatId, 7, 11);
  assert.deepEqual(await all(), [2, 0, 1]);
}
