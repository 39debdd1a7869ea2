import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { directChatId } from '@switchboard/protocol';
import { registerUser, sleep, TestSocket, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';

/*
 * Guarantee 4 (at-least-once to every online device) when only the publishing node's
 * command connections to Redis drop: the other node's subscriber connection stays up, so
 * it sees no outage and never resyncs its sockets. A message committed while the
 * publisher reconnects must still reach the recipient's open socket.
 */
const missing = await clusterServicesMissing();

describe('cluster: the publisher connection drops, the subscribers do not', { skip: missing ?? false }, () => {
  const { nodes, redisUrl } = clusterSuite(2);

  test('a message committed meanwhile still reaches the recipient on the other node', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const alice = await registerUser(a.baseUrl, 'pda');
    const bob = await registerUser(a.baseUrl, 'pdb');
    const chat = directChatId(alice.user_id, bob.user_id);
    const onA = await TestSocket.connectSynced(a.wsUrl, alice.token);
    const onB = await TestSocket.connectSynced(b.wsUrl, bob.token);
    const killer = new Redis(redisUrl());
    try {
      const first = await onA.sendMessage(chat, 'before');
      await onB.waitFor((f) => f.type === 'new_message' && f.message_id === first.message_id, 5000, 'the first message');

      // Every command connection of every node is cut, again and again, for a moment
      // (pub/sub connections are another client type: the subscribers stay).
      let cutting = true;
      const cuts = (async () => {
        while (cutting) {
          await killer.client('KILL', 'TYPE', 'normal');
          await sleep(5);
        }
      })();
      await sleep(20);
      const second = await onA.sendMessage(chat, 'while the publisher reconnects');
      assert.equal(second.type, 'ack_sent');
      await sleep(200);
      cutting = false;
      await cuts;

      await onB.waitFor((f) => f.type === 'new_message' && f.message_id === second.message_id, 5000, 'the message sent meanwhile');
    } finally {
      killer.disconnect();
      onA.terminate();
      onB.terminate();
    }
  });
});
