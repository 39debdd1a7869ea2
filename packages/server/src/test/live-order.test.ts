import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { userTopic } from '../engines/bus/bus.js';
import type { AppendRequest, StoredMessage } from '../engines/store/store.js';
import { suiteServer, type TestUser } from '../testing/harness.js';
import { newMessages, waitForSyncComplete, waitUntil } from './delivery-support.js';

/*
 * Guarantee 3 and 4 when live events race: in a cluster two nodes publish a chat's
 * messages independently, so a device may hear seq N+1 before seq N, or a burst far
 * ahead of what it has. These tests write messages into the store without delivering
 * them and then publish only a later one on the bus, exactly as a lost or overtaken
 * publish from another node looks to this node. Every seq must still arrive, in order.
 */
describe('live delivery when events arrive out of order', () => {
  const { srv, open, users } = suiteServer({}, { synced: (s) => waitForSyncComplete(s) });
  let seqCounter = 0;

  /** Stores messages from `from` to the chat without any live delivery; answers them in seq order. */
  async function storeQuietly(chatId: string, from: TestUser, to: TestUser, count: number): Promise<StoredMessage[]> {
    const { store } = srv.server.engines;
    const requests: AppendRequest[] = Array.from({ length: count }, (_, i) => ({
      messageId: `q${Date.now()}x${++seqCounter}x${i}`,
      chatId,
      senderId: from.user_id,
      senderDeviceId: from.device_id,
      clientMsgId: `quiet-${seqCounter}-${i}`,
      content: `quiet ${i}`,
      createdAt: Date.now(),
      createDirectWith: [from.user_id, to.user_id],
    }));
    const results = await store.append(requests);
    return results.map((r) => r.message!);
  }

  /** Publishes one stored message on the bus to the user, as the committing node would. */
  async function publish(to: TestUser, m: StoredMessage): Promise<void> {
    await srv.server.engines.bus.publish([userTopic(to.user_id)], {
      kind: 'message',
      frame: JSON.stringify({ type: 'new_message', ...m }),
      chatId: m.chat_id,
      seq: m.seq,
      messageId: m.message_id,
      senderId: m.sender_id,
      exceptDevice: m.sender_device_id,
    });
  }

  test('the first live message of a chat on a socket, a higher seq than one not yet heard, does not skip the lower one', async () => {
    const [alice, bob] = (await users(2, 'race')) as [TestUser, TestUser];
    const chatId = directChatId(alice.user_id, bob.user_id);
    const sb = await open(bob);
    const [m1, m2] = (await storeQuietly(chatId, alice, bob, 2)) as [StoredMessage, StoredMessage];
    await publish(bob, m2); // seq 2 overtakes seq 1
    await publish(bob, m1); // and seq 1 comes late
    await waitUntil(() => newMessages(sb, chatId).length >= 2, 5000, 'both messages');
    await publish(bob, m2); // a repeat is dropped
    const alsoLate = await storeQuietly(chatId, alice, bob, 1);
    await publish(bob, alsoLate[0]!);
    await waitUntil(() => newMessages(sb, chatId).length >= 3, 5000, 'the third message');
    assert.deepEqual(
      newMessages(sb, chatId).map((f) => f.seq),
      [1, 2, 3],
    );
  });

  test('a gap of more than 10,000 messages is filled completely, in order', async () => {
    const [alice, bob] = (await users(2, 'gap')) as [TestUser, TestUser];
    const chatId = directChatId(alice.user_id, bob.user_id);
    const sb = await open(bob);
    const [first] = (await storeQuietly(chatId, alice, bob, 1)) as [StoredMessage];
    await publish(bob, first);
    await waitUntil(() => newMessages(sb, chatId).length === 1, 5000, 'the first message');
    const burst = await storeQuietly(chatId, alice, bob, 10_050);
    await publish(bob, burst.at(-1)!); // only the last of 10,050 is heard live
    await waitUntil(() => newMessages(sb, chatId).length >= 10_051, 30_000, 'every message of the burst');
    await publish(bob, burst.at(-2)!); // an earlier one, late: already delivered, dropped
    const next = await storeQuietly(chatId, alice, bob, 1);
    await publish(bob, next[0]!);
    await waitUntil(() => newMessages(sb, chatId).length >= 10_052, 5000, 'the next message');
    const seqs = newMessages(sb, chatId).map((f) => f.seq);
    assert.equal(seqs.length, 10_052);
    assert.deepEqual(
      seqs,
      Array.from({ length: 10_052 }, (_, i) => i + 1),
    );
  });
});
