import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { directChatId } from '@switchboard/protocol';
import { describe, test } from 'node:test';
import { loadConfig } from '../config.js';
import { http, registerUser, sleep, TestSocket } from '../testing/harness.js';
import { startTestServer } from '../testing/harness.js';
import { createUpload, download, mediaSuite, suiteMediaConfig, upload, type Uploaded } from './media-support.js';
import { previewToolsMissing, testPdf, testVideo } from './media-previews-support.js';

/* Media in embedded mode: files under DATA_DIR/media, uploads and downloads served by the server itself. */
describe('media: embedded, files on disk', () => {
  mediaSuite(async () => {
    const srv = await startTestServer({ ...suiteMediaConfig });
    const node = { baseUrl: srv.baseUrl, wsUrl: srv.wsUrl };
    return { a: node, b: node, maxBytes: suiteMediaConfig.mediaMaxBytes, storeEnforcesSize: true, stop: () => srv.stop() };
  });
});

describe('media: the daily upload quota', () => {
  test("uploads past a user's daily quota are refused with 429 and a retry time; other users are unaffected", async () => {
    const srv = await startTestServer({ mediaDailyQuotaBytes: 1000 });
    try {
      const [alice, bob] = [await registerUser(srv.baseUrl, 'quota'), await registerUser(srv.baseUrl, 'quota')];
      const body = { content_type: 'text/plain', size: 600 };
      assert.equal((await createUpload(srv.baseUrl, alice, body)).status, 201);
      const refused = await fetch(`${srv.baseUrl}/v1/media`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(refused.status, 429);
      const answer = (await refused.json()) as { error: string; retry_after_ms: number };
      assert.equal(answer.error, 'rate_limited');
      assert.ok(answer.retry_after_ms > 23 * 3600_000, 'free again when the first upload turns a day old');
      assert.equal(Number(refused.headers.get('retry-after')), Math.ceil(answer.retry_after_ms / 1000));
      assert.equal((await createUpload(srv.baseUrl, bob, body)).status, 201);
    } finally {
      await srv.stop();
    }
  });

  test('RATE_LIMITS=off turns the quota off; MEDIA_DAILY_QUOTA_BYTES sets it', () => {
    assert.equal(loadConfig({}, { RATE_LIMITS: 'off', MEDIA_DAILY_QUOTA_BYTES: '5' }).mediaDailyQuotaBytes, 0);
    assert.equal(loadConfig({}, { MEDIA_DAILY_QUOTA_BYTES: '5' }).mediaDailyQuotaBytes, 5);
    assert.equal(loadConfig({}, {}).mediaMaxBytes, 64 * 1024 * 1024);
  });
});

describe('media: a server without ffmpeg and pdftoppm', () => {
  test('videos and PDFs are plain files (no dimensions, duration or thumbnail); images still get theirs', async () => {
    // MEDIA_TOOLS_PATH names an empty folder: the tools are looked for there, as on a machine without them.
    const empty = mkdtempSync(path.join(tmpdir(), 'sb-no-tools-'));
    const srv = await startTestServer({ ...suiteMediaConfig, mediaToolsPath: empty });
    try {
      const [alice, bob] = [await registerUser(srv.baseUrl, 'notools'), await registerUser(srv.baseUrl, 'notools')];
      const [sa, sb] = [await TestSocket.connectSynced(srv.wsUrl, alice.token), await TestSocket.connectSynced(srv.wsUrl, bob.token)];
      // A real video where ffmpeg is here to make one; any bytes would do for a server that cannot read them.
      const video = previewToolsMissing() === null ? testVideo(320, 240, 1) : randomBytes(5000);
      const pdf = testPdf(400, 200);
      const image = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 9, g: 9, b: 9 } } })
        .png()
        .toBuffer();
      const ids = [
        await upload(srv.baseUrl, alice, video, 'video/mp4', 'clip.mp4'),
        await upload(srv.baseUrl, alice, pdf, 'application/pdf', 'doc.pdf'),
        await upload(srv.baseUrl, alice, image, 'image/png', 'pic.png'),
      ];
      const clientMsgId = randomUUID();
      sa.send({
        type: 'send_message',
        chat_id: directChatId(alice.user_id, bob.user_id),
        client_msg_id: clientMsgId,
        content: '',
        attachments: ids.map((media_id) => ({ media_id })),
      });
      const ack = await sa.nextWhere((f) => f.client_msg_id === clientMsgId, 10_000, 'ack');
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      assert.deepEqual(live.attachments[0], { media_id: ids[0], content_type: 'video/mp4', size: video.length, filename: 'clip.mp4' });
      assert.deepEqual(live.attachments[1], { media_id: ids[1], content_type: 'application/pdf', size: pdf.length, filename: 'doc.pdf' });
      assert.deepEqual([live.attachments[2].width, live.attachments[2].thumbnail?.width], [640, 320]);
      const got = await download(srv.baseUrl, bob, ids[0]!);
      assert.ok(got.body.equals(video), 'served as it came');
      await sa.close();
      await sb.close();
    } finally {
      await srv.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('media: URLs stop working at expires_at', () => {
  test('an upload URL used after its expires_at stores nothing; a download link stops too, the API still serves', async () => {
    const srv = await startTestServer({ mediaUploadTtlMs: 1000, mediaDownloadTtlMs: 1000 });
    try {
      const alice = await registerUser(srv.baseUrl, 'expiry');
      const bytes = Buffer.from('late bytes');
      const created = await createUpload(srv.baseUrl, alice, { content_type: 'text/plain', size: bytes.length });
      assert.equal(created.status, 201);
      const up = created.body as Uploaded;
      assert.ok(up.expires_at > Date.now() && up.expires_at <= Date.now() + 1000, `expires_at ${up.expires_at}`);
      await sleep(Math.max(0, up.expires_at - Date.now()) + 100);
      const late = await fetch(up.upload_url, { method: up.upload_method, headers: up.upload_headers, body: bytes });
      assert.ok(late.status >= 400 && late.status < 500, `a late upload is refused (got ${late.status})`);
      assert.equal((await download(srv.baseUrl, alice, up.media_id)).status, 404, 'nothing was stored');

      // A link (GET /v1/media/{id}/link) works until its expires_at, then no more.
      const id = await upload(srv.baseUrl, alice, bytes, 'text/plain');
      const link = await fetch(`${srv.baseUrl}/v1/media/${id}/link`, { headers: { authorization: `Bearer ${alice.token}` } });
      const { url, expires_at } = (await link.json()) as { url: string; expires_at: number };
      assert.equal((await fetch(url)).status, 200);
      await sleep(Math.max(0, expires_at - Date.now()) + 100);
      const stale = await fetch(url);
      assert.ok(stale.status >= 400 && stale.status < 500, `an expired link is refused (got ${stale.status})`);
      const fresh = await download(srv.baseUrl, alice, id);
      assert.deepEqual([fresh.status, fresh.body.toString()], [200, 'late bytes'], 'the API still serves it with a token');
    } finally {
      await srv.stop();
    }
  });
});

describe('media: a send the store refuses after its attach', () => {
  test('the attachment of a send refused with not_a_member is swept like one never sent', async () => {
    const srv = await startTestServer({ ...suiteMediaConfig });
    let sa: TestSocket | undefined;
    try {
      const [alice, bob] = [await registerUser(srv.baseUrl, 'refused'), await registerUser(srv.baseUrl, 'refused')];
      const g = await http(srv.baseUrl, 'POST', '/v1/groups', { token: bob.token, body: { name: 'g', member_ids: [alice.user_id] } });
      assert.equal(g.status, 201);
      sa = await TestSocket.connectSynced(srv.wsUrl, alice.token);
      assert.equal((await sa.sendMessage(g.body.chat_id, 'hello')).type, 'ack_sent', 'the members are cached');
      // Removed in the store only, as through another node whose broadcast has not come:
      // the send passes the cached check and is refused by the append, after its attach.
      assert.equal(await srv.server.engines.store.removeMember(g.body.chat_id, bob.user_id, alice.user_id), 'removed');
      const id = await upload(srv.baseUrl, alice, Buffer.from('never delivered'), 'text/plain');
      const clientMsgId = randomUUID();
      sa.send({ type: 'send_message', chat_id: g.body.chat_id, client_msg_id: clientMsgId, content: '', attachments: [{ media_id: id }] });
      const refused = await sa.nextWhere((f) => f.type === 'error' || (f.type === 'ack_sent' && f.client_msg_id === clientMsgId));
      assert.deepEqual([refused.type, refused.code], ['error', 'not_a_member']);
      // The suite's settings: swept once 4 s old, every 250 ms.
      const deadline = Date.now() + 15_000;
      while ((await download(srv.baseUrl, alice, id)).status !== 404) {
        assert.ok(Date.now() < deadline, 'the attachment of the refused send was not swept');
        await sleep(200);
      }
    } finally {
      await sa?.close();
      await srv.stop();
    }
  });
});

describe('media: a record stored before content types were checked', () => {
  test('a stored type Node refuses in a header is served as an application/octet-stream download, not a 500, every time', async () => {
    const srv = await startTestServer({});
    try {
      const alice = await registerUser(srv.baseUrl, 'legacy');
      // As an older version stored it (its check let control characters through after a `;`).
      const id = `legacy${randomUUID().replace(/-/g, '')}`;
      writeFileSync(path.join(srv.dataDir, 'media', 'objects', id), 'old bytes');
      await srv.server.engines.store.media.create({
        id,
        ownerId: alice.user_id,
        contentType: 'text/html; x=\u0001',
        size: 9,
        filename: 'old.html',
        createdAt: Date.now(),
        parentId: null,
        attached: false,
        info: null,
      });
      for (let i = 0; i < 3; i++) {
        const got = await download(srv.baseUrl, alice, id);
        assert.equal(got.status, 200);
        assert.equal(got.headers.get('content-type'), 'application/octet-stream');
        assert.equal(got.headers.get('content-disposition'), "attachment; filename*=UTF-8''old.html");
        assert.equal(got.body.toString(), 'old bytes');
      }
      const link = await http(srv.baseUrl, 'GET', `/v1/media/${id}/link`, { token: alice.token });
      const viaLink = await fetch(link.body.url);
      assert.deepEqual([viaLink.status, viaLink.headers.get('content-type')], [200, 'application/octet-stream']);
    } finally {
      await srv.stop();
    }
  });
});
