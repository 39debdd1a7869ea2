import assert from 'node:assert/strict';
import { directChatId } from '@switchboard/protocol';
import { login, registerUser, TestSocket, type ServerProcess } from './harness.js';

/**
 * The cross-node message path every cluster shape must pass: alice on node A sends to
 * bob, whose two devices sit on nodes B and C; both get the message and A gets the
 * delivered tick. Answers the open sockets and the ack for the caller's further checks.
 */
export async function crossNodeMessage(nodes: ServerProcess[], tag: string) {
  const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
  const alice = await registerUser(a.baseUrl, `${tag}alice`);
  const bob = await registerUser(b.baseUrl, `${tag}bob`);
  const bob2 = await login(c.baseUrl, bob.username, bob.password);
  const chat = directChatId(alice.user_id, bob.user_id);
  const sa = await TestSocket.connectSynced(a.wsUrl, alice.token);
  const sb = await TestSocket.connectSynced(b.wsUrl, bob.token);
  const sc = await TestSocket.connectSynced(c.wsUrl, bob2.token);

  const ack = await sa.sendMessage(chat, `across the cluster (${tag})`);
  assert.equal(ack.type, 'ack_sent');
  const onB = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
  const onC = await sc.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
  assert.equal(onB.content, `across the cluster (${tag})`);
  assert.equal(onC.seq, ack.seq);

  sb.send({ type: 'ack_delivered', message_id: ack.message_id });
  const delivered = await sa.nextWhere((f) => f.type === 'status_update' && f.status === 'delivered');
  assert.equal(delivered.user_id, bob.user_id);
  return { alice, bob, chat, ack, sa, sb, sc };
}
