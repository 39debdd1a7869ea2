import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { http, sleep, suiteServer } from '../testing/harness.js';
import { waitForMessages, type Frame } from './delivery-support.js';

/*
 * Guarantee 8 (membership is enforced): a member removed from a group learns nothing of
 * it afterwards. Its own earlier messages are still read by the members who stay; the
 * status_update frames for them must not reach it (its receipts endpoint answers 404 too).
 */
describe('a sender removed from a group', () => {
  const { srv, open, users } = suiteServer();

  test('gets no status_update for its old messages once removed', async () => {
    const [admin, gone, stays] = await users(3, 'rsr');
    const res = await http(srv.baseUrl, 'POST', '/v1/groups', {
      token: admin!.token,
      body: { name: 'Removal', member_ids: [gone!.user_id, stays!.user_id] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const g = res.body as { group_id: string; chat_id: string };
    const [sAdmin, sGone, sStays] = await Promise.all([open(admin!), open(gone!), open(stays!)]);

    const fromGone = (await sGone!.sendMessage(g.chat_id, 'mine')) as Frame;
    const fromAdmin = (await sAdmin!.sendMessage(g.chat_id, 'admin')) as Frame;
    await waitForMessages(sStays!, g.chat_id, [fromGone.message_id, fromAdmin.message_id]);

    const del = await http(
      srv.baseUrl,
      'DELETE',
      `/v1/groups/${encodeURIComponent(g.group_id)}/members/${encodeURIComponent(gone!.user_id)}`,
      { token: admin!.token },
    );
    assert.equal(del.status, 204);
    await sGone!.waitFor((f) => f.type === 'group_update' && f.event === 'member_removed', 3000, 'member_removed');
    const removedAt = sGone!.frames.length;

    // The member who stays reads everything: the admin (still a member) hears of it...
    sStays!.send({ type: 'ack_read', chat_id: g.chat_id, last_read_message_id: fromAdmin.message_id });
    await sAdmin!.waitFor((f) => f.type === 'status_update' && f.status === 'read' && f.user_id === stays!.user_id, 3000, 'read');
    await sleep(300); // past the group receipt window
    // ...the removed sender hears nothing about the group any more.
    const leaked = (sGone!.frames as Frame[]).slice(removedAt).filter((f) => f.chat_id === g.chat_id);
    assert.deepEqual(leaked, [], 'frames about the group after removal');
  });
});
