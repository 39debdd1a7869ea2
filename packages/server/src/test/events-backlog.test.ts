import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, sleep, startTestServer, suiteServer } from '../testing/harness.js';
import { TestStream, type StreamMode } from '../testing/event-stream.js';
import { makeItems, sendPipelined, waitForSyncComplete } from './delivery-support.js';

/*
 * A stream counts as a socket for guarantee 5 (a backlog of 10,000 arrives in order, then
 * sync_complete), for suspension (closed with 4100) and for shutdown (closed with 4000,
 * reconnect). The bound on the backlog is generous: CI machines are slow (docs/BENCHMARKS.md).
 */

const BACKLOG = 10_000;
const BOUND_MS = 20_000;
const ADMIN_TOKEN = 'a'.repeat(40);

describe('events: offline backlog, suspension', () => {
  const { srv, connect } = suiteServer({ rateLimits: false, adminToken: ADMIN_TOKEN });
  const streams: TestStream[] = [];
  after(() => {
    for (const s of streams) s.stop();
  });

  for (const mode of ['sse', 'poll'] as StreamMode[]) {
    test(`${mode}: a backlog of ${BACKLOG} messages comes in seq order, then sync_complete`, async () => {
      const a = await registerUser(srv.baseUrl, `ebk${mode}`);
      const b = await registerUser(srv.baseUrl, `ebk${mode}b`);
      const chat = directChatId(a.user_id, b.user_id);
      const sa = await connect(a);
      await waitForSyncComplete(sa);
      const acks = await sendPipelined(sa, chat, makeItems(BACKLOG, `ebk${mode}`), { window: 500, timeoutMs: 120_000 });
      assert.equal(acks.size, BACKLOG);
      const started = Date.now();
      const sb = await TestStream.open(srv.baseUrl, b.token, mode);
      streams.push(sb);
      const sync = await sb.waitFor((f) => f.type === 'sync_complete', 60_000, 'sync_complete');
      const took = Date.now() - started;
      console.log(`events-backlog (${mode}): ${BACKLOG} messages, open -> sync_complete ${took} ms`);
      const seqs = sb.frames
        .slice(0, sb.frames.indexOf(sync))
        .filter((f) => f.type === 'new_message')
        .map((f) => f.seq as number);
      assert.equal(seqs.length, BACKLOG);
      assert.deepEqual(
        seqs,
        Array.from({ length: BACKLOG }, (_, i) => i + 1),
      );
      assert.ok(took < BOUND_MS, `backlog took ${took} ms`);
      sb.stop();
    });

    test(`${mode}: an operator's suspension closes the stream with 4100`, async () => {
      const u = await registerUser(srv.baseUrl, `ebs${mode}`);
      const s = await TestStream.open(srv.baseUrl, u.token, mode);
      streams.push(s);
      await s.waitFor((f) => f.type === 'sync_complete', 10_000);
      const r = await http(srv.baseUrl, 'POST', `/v1/admin/users/${u.user_id}/suspend`, { token: ADMIN_TOKEN });
      assert.equal(r.status, 204);
      const closed = await Promise.race([s.closed, sleep(5000).then(() => null)]);
      assert.equal(closed?.code, 4100, JSON.stringify(closed));
      const again = await fetch(`${srv.baseUrl}/v1/events`, {
        headers: { authorization: `Bearer ${u.token}`, accept: 'text/event-stream' },
      });
      assert.equal(again.status, 401);
    });
  }
});

describe('events: shutdown', () => {
  for (const mode of ['sse', 'poll'] as StreamMode[]) {
    test(`${mode}: a server shutting down closes its streams with 4000 (reconnect)`, async () => {
      const server = await startTestServer({ eventsPollWaitMs: 2000 });
      try {
        const u = await registerUser(server.baseUrl, `ebd${mode}`);
        const s = await TestStream.open(server.baseUrl, u.token, mode);
        await s.waitFor((f) => f.type === 'sync_complete', 10_000);
        const stopping = server.stop();
        const closed = await Promise.race([s.closed, sleep(5000).then(() => null)]);
        assert.equal(closed?.code, 4000, JSON.stringify(closed));
        await stopping;
      } catch (err) {
        await server.stop().catch(() => {});
        throw err;
      }
    });
  }
});
