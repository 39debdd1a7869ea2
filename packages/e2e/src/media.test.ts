import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { startTestServer } from '@switchboard/server/testing';
import { directChatId } from '@switchboard/protocol';
import { SwitchboardClient, type NewMessageEvent } from '@switchboard/client';

/* The SDK's media calls against a real (embedded) server: upload, send with attachments, fetch. */

test('uploadMedia, send with attachments, downloadMedia and mediaUrl', async () => {
  const srv = await startTestServer();
  const clients: SwitchboardClient[] = [];
  try {
    const open = async (name: string) => {
      const username = `${name}_${process.pid}`.slice(0, 32);
      await SwitchboardClient.register(srv.baseUrl, { username, password: 'correct horse battery' });
      const session = await SwitchboardClient.login(srv.baseUrl, { username, password: 'correct horse battery' });
      const c = SwitchboardClient.fromSession(srv.baseUrl, session, { WebSocket });
      clients.push(c);
      const synced = c.waitFor('sync_complete', { timeoutMs: 10_000 });
      await c.connect();
      await synced;
      return c;
    };
    const [alice, bob] = [await open('media_alice'), await open('media_bob')];
    const bytes = randomBytes(300_000);
    const mediaId = await alice.uploadMedia(bytes, { contentType: 'application/pdf', filename: 'notes.pdf' });
    const received = bob.waitFor('message', { timeoutMs: 10_000 }) as Promise<NewMessageEvent>;
    const ack = await alice.send(directChatId(alice.userId!, bob.userId!), 'see attached', { attachments: [mediaId] });
    const message = await received;
    assert.equal(message.message_id, ack.message_id);
    assert.deepEqual(message.attachments, [
      { media_id: mediaId, content_type: 'application/pdf', size: bytes.length, filename: 'notes.pdf' },
    ]);

    const res = await bob.downloadMedia(mediaId);
    assert.equal(res.headers.get('content-type'), 'application/pdf');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
    const part = await bob.downloadMedia(mediaId, { range: 'bytes=0-9' });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(0, 10)));
    // The URL needs no token: what an <img src> or a download link gets.
    const byUrl = await fetch(await bob.mediaUrl(mediaId));
    assert.ok(Buffer.from(await byUrl.arrayBuffer()).equals(bytes));
    await assert.rejects(
      alice.send(directChatId(alice.userId!, bob.userId!), '', { attachments: ['not-a-media'] }),
      (err: Error & { frame?: { code: string } }) => err.frame?.code === 'invalid_attachment',
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await srv.stop();
  }
});
