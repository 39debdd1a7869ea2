import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, sleep, TestSocket } from '../testing/harness.js';
import { clusterServicesMissing, clusterSuite } from '../testing/cluster.js';
import { TestStream, type StreamMode } from '../testing/event-stream.js';
import { waitUntil } from '../testing/poll.js';

/*
 * GET /v1/events in a cluster (PROTOCOL.md "Without WebSockets"): a stream lives on the
 * node that opened it, and its POSTs and long-polls may reach any node (a balancer without
 * stickiness), which relays them over the bus. A node that dies under a stream loses
 * nothing: the client opens a stream on another node and gets what it is owed.
 */
const missing = await clusterServicesMissing();

type Frame = Record<string, any> & { type: string };

describe('events in a cluster: POSTs and polls that reach another node', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(2, { env: { EVENTS_POLL_WAIT_MS: '1500' } });

  for (const mode of ['sse', 'poll'] as StreamMode[]) {
    test(`${mode}: a stream opened on node A, its POSTs${mode === 'poll' ? ' and polls' : ''} sent to node B`, async () => {
      const [na, nb] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      const a = await registerUser(na.baseUrl, `ec${mode}`);
      const b = await registerUser(nb.baseUrl, `ec${mode}b`);
      const chat = directChatId(a.user_id, b.user_id);
      const sa = await TestStream.open(na.baseUrl, a.token, mode);
      sa.via = nb.baseUrl;
      try {
        await sa.waitFor((f) => f.type === 'sync_complete', 10_000, 'sync_complete');
        const sb = await TestSocket.connectSynced(nb.wsUrl, b.token);
        try {
          // In order through the relay: five sends POSTed to B, held on A.
          const ids = [0, 1, 2, 3, 4].map((i) => `rel-${mode}-${i}`);
          for (const id of ids) assert.equal(await sa.post({ type: 'send_message', chat_id: chat, client_msg_id: id, content: id }), 202);
          const acks: Frame[] = [];
          for (const id of ids) acks.push(await sa.waitFor((f) => f.type === 'ack_sent' && f.client_msg_id === id, 10_000, id));
          assert.deepEqual(
            acks.map((f) => f.seq),
            [1, 2, 3, 4, 5],
          );
          for (const ack of acks) await sb.waitFor((f) => f.type === 'new_message' && f.message_id === ack.message_id, 5000, 'at b');
          // Live to the stream (read through B's relayed polls in long-poll mode).
          const back = await sb.sendMessage(chat, 'back to the stream');
          await sa.waitFor((f) => f.type === 'new_message' && f.message_id === back.message_id, 10_000, 'live on the stream');
          await sa.post({ type: 'ack_read', chat_id: chat, last_read_message_id: back.message_id });
          await sb.waitFor((f) => f.type === 'status_update' && f.status === 'read' && f.message_id === back.message_id, 5000, 'read');
          // A revoked session closes the stream wherever the DELETE lands.
          assert.equal((await http(nb.baseUrl, 'DELETE', '/v1/sessions/current', { token: a.token })).status, 204);
          const closed = await Promise.race([sa.closed, sleep(8000).then(() => null)]);
          assert.equal(closed?.code, 4100, JSON.stringify(closed));
        } finally {
          sb.terminate();
        }
      } finally {
        sa.stop();
      }
    });
  }

  test('a stream of a node that is not there is 404 on every node (the client opens a new one)', async () => {
    const [na, nb] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const a = await registerUser(na.baseUrl, 'ecg');
    const fake = `${Buffer.from('no-such-node').toString('base64url')}.abc`;
    const headers = { authorization: `Bearer ${a.token}`, accept: 'application/json' };
    assert.equal((await fetch(`${nb.baseUrl}/v1/events?stream_id=${fake}`, { headers })).status, 404);
    assert.equal((await fetch(`${nb.baseUrl}/v1/events/${fake}`, { method: 'POST', headers, body: '{"type":"ping"}' })).status, 404);
    // A stream that was on A and is closed: a poll relayed from B is told at once.
    const sa = await TestStream.open(na.baseUrl, a.token, 'poll');
    sa.stop();
    const res = await fetch(`${nb.baseUrl}/v1/events?stream_id=${sa.streamId.split('.')[0]}.gone`, { headers });
    assert.equal(res.status, 404);
  });
});

describe('events in a cluster: a node dies under a stream', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(3, { env: { EVENTS_POLL_WAIT_MS: '1500' } });

  for (const [i, mode] of [
    [0, 'sse'],
    [1, 'poll'],
  ] as [number, StreamMode][]) {
    test(`${mode}: the client resumes on another node and nothing is lost either way`, async () => {
      const dying = nodes[i]!;
      const survivor = nodes[2]!;
      const a = await registerUser(survivor.baseUrl, `ek${mode}`);
      const b = await registerUser(survivor.baseUrl, `ek${mode}b`);
      const chat = directChatId(a.user_id, b.user_id);
      const sb = await TestSocket.connectSynced(survivor.wsUrl, b.token);
      let stream = await TestStream.open(dying.baseUrl, a.token, mode);
      const received = new Set<string>();
      const streams: TestStream[] = [stream];
      const collect = (s: TestStream) => () => {
        for (const f of s.all('new_message')) received.add(f.message_id as string);
      };
      try {
        await stream.waitFor((f) => f.type === 'sync_complete', 10_000, 'sync_complete');
        // a sends on the stream; what is not acknowledged when the node dies is sent again after.
        const aIds = Array.from({ length: 20 }, (_, k) => `ek-${mode}-a${k}`);
        for (const id of aIds.slice(0, 10)) stream.send({ type: 'send_message', chat_id: chat, client_msg_id: id, content: id });
        // b sends all along; the node dies in the middle.
        const bAcks: Frame[] = [];
        const sending = (async () => {
          for (let k = 0; k < 60; k++) {
            bAcks.push(await sb.sendMessage(chat, `b${k}`, `ek-${mode}-b${k}`));
            await sleep(15);
          }
        })();
        await waitUntil(() => bAcks.length >= 20, 20_000, 'b sent 20');
        await dying.kill('SIGKILL');
        const ended = await Promise.race([stream.closed, sleep(10_000).then(() => null)]);
        assert.ok(ended, 'the stream ends when its node dies');
        collect(stream)();
        // The client resumes on a live node: a new stream replays what it is owed.
        stream = await TestStream.open(survivor.baseUrl, a.token, mode);
        streams.push(stream);
        await stream.waitFor((f) => f.type === 'sync_complete', 20_000, 'sync_complete after the resume');
        const acked = new Set(streams.flatMap((s) => s.all('ack_sent').map((f) => f.client_msg_id as string)));
        for (const id of aIds) {
          if (!acked.has(id)) stream.send({ type: 'send_message', chat_id: chat, client_msg_id: id, content: id });
        }
        await sending;
        const last = bAcks[bAcks.length - 1]!;
        await stream.waitFor((f) => f.type === 'new_message' && f.message_id === last.message_id, 20_000, 'the last of b');
        collect(stream)();
        const lost = bAcks.filter((ack) => !received.has(ack.message_id as string));
        assert.deepEqual(lost, [], 'every acknowledged message of b reached a');
        // Everything a sent arrived at b, once each (same client_msg_id: no doubles).
        const ackedAnywhere = () => new Set(streams.flatMap((s) => s.all('ack_sent').map((f) => f.client_msg_id as string)));
        await waitUntil(
          () => aIds.every((id) => ackedAnywhere().has(id)),
          20_000,
          'every send of a acknowledged',
          () => JSON.stringify(aIds.filter((id) => !ackedAnywhere().has(id))),
        );
        await waitUntil(() => aIds.every((id) => sb.all('new_message').some((f) => f.client_msg_id === id)), 10_000, 'a’s messages at b');
        const atB = sb.all('new_message').filter((f) => aIds.includes(f.client_msg_id as string));
        assert.equal(new Set(atB.map((f) => f.message_id)).size, aIds.length, 'one message per client_msg_id');
        // Order at b within the chat: seqs ascending (repeats of a resent message dropped, as clients do).
        const seen = new Set<string>();
        const seqs = sb
          .all('new_message')
          .filter((f) => !seen.has(f.message_id as string) && seen.add(f.message_id as string))
          .map((f) => f.seq as number);
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
        );
      } finally {
        for (const s of streams) s.stop();
        sb.terminate();
      }
    });
  }
});
