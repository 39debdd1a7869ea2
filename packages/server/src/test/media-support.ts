import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { directChatId, THUMBNAIL_MAX_PX } from '@switchboard/protocol';
import { http, registerUser, sleep, TestSocket, type TestUser } from '../testing/harness.js';
import { zeroPng } from '../testing/zero-png.js';
import { hugeFrameVideo, previewToolsMissing, testPdf, testVideo } from './media-previews-support.js';

const noPreviewTools = previewToolsMissing();

/*
 * The media behaviour (PROTOCOL.md "Media") as a suite every media store runs: embedded
 * (files under DATA_DIR/media, served by the server) and cluster (S3, here s3rver). Tests
 * use only HTTP and sockets, as a client would.
 */

/** The servers a suite run talks to: users of `a` and `b` may sit on different nodes. */
export interface MediaTarget {
  a: { baseUrl: string; wsUrl: string };
  b: { baseUrl: string; wsUrl: string };
  /** The largest upload the servers were configured to accept. */
  maxBytes: number;
  /**
   * Whether the store itself refuses an upload of the wrong length. The embedded store and
   * real S3 do (the signature covers Content-Length); s3rver does not check signed headers,
   * so there the server's size check at send time refuses the attachment and deletes the object.
   */
  storeEnforcesSize: boolean;
  stop(): Promise<void>;
}

export interface Uploaded {
  media_id: string;
  upload_url: string;
  upload_method: string;
  upload_headers: Record<string, string>;
  expires_at: number;
}

export async function createUpload(baseUrl: string, u: TestUser, body: unknown): Promise<{ status: number; body: any }> {
  return http(baseUrl, 'POST', '/v1/media', { token: u.token, body });
}

/** Creates an upload and sends the bytes; answers the media id. */
export async function upload(baseUrl: string, u: TestUser, bytes: Buffer, contentType: string, filename?: string): Promise<string> {
  const created = await createUpload(baseUrl, u, { content_type: contentType, size: bytes.length, filename });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const up = created.body as Uploaded;
  const res = await fetch(up.upload_url, { method: up.upload_method, headers: up.upload_headers, body: bytes });
  assert.ok(res.ok, `upload answered ${res.status}: ${await res.text()}`);
  return up.media_id;
}

/** GET /v1/media/{id}, following a redirect by hand (so headers such as Range go along, and the token does not). */
export async function download(
  baseUrl: string,
  u: TestUser | null,
  mediaId: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer; headers: Headers; redirected: boolean }> {
  const auth: Record<string, string> = u ? { authorization: `Bearer ${u.token}` } : {};
  let res = await fetch(`${baseUrl}/v1/media/${encodeURIComponent(mediaId)}`, { headers: { ...auth, ...headers }, redirect: 'manual' });
  let redirected = false;
  if (res.status === 302) {
    redirected = true;
    res = await fetch(res.headers.get('location')!, { headers });
  }
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers, redirected };
}

/** A raw PUT of `body` that declares `contentLength`, so a test can send more bytes than an upload takes. */
function rawPut(url: string, headers: Record<string, string>, body: Buffer): Promise<number | 'cut'> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'PUT', headers: { ...headers, 'content-length': body.length } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve('cut'));
    req.end(body);
  });
}

async function sendWith(
  sock: TestSocket,
  chatId: string,
  content: string,
  attachments: { media_id: string }[],
  clientMsgId = randomUUID(),
) {
  sock.send({ type: 'send_message', chat_id: chatId, client_msg_id: clientMsgId, content, attachments });
  return sock.nextWhere((f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === clientMsgId, 20_000, 'send answer');
}

async function history(baseUrl: string, u: TestUser, chatId: string): Promise<any[]> {
  const res = await http(baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages`, { token: u.token });
  assert.equal(res.status, 200);
  return res.body.messages;
}

export function mediaSuite(start: () => Promise<MediaTarget>): void {
  let t: MediaTarget;
  let alice: TestUser, bob: TestUser, carol: TestUser;
  let sa: TestSocket, sb: TestSocket;
  let dm: string;

  before(async () => {
    t = await start();
    [alice, bob, carol] = await Promise.all([
      registerUser(t.a.baseUrl, 'alice'),
      registerUser(t.b.baseUrl, 'bob'),
      registerUser(t.a.baseUrl, 'carol'),
    ]);
    sa = await TestSocket.connectSynced(t.a.wsUrl, alice.token);
    sb = await TestSocket.connectSynced(t.b.wsUrl, bob.token);
    dm = directChatId(alice.user_id, bob.user_id);
  });
  after(async () => {
    await sa?.close();
    await sb?.close();
    await t?.stop();
  });

  test('a multi-megabyte file reaches the other member byte for byte, whole and by Range; outsiders get 404, no token 401', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    const id = await upload(t.a.baseUrl, alice, bytes, 'application/zip', 'archive.zip');
    const ack = await sendWith(sa, dm, 'the archive', [{ media_id: id }]);
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    assert.deepEqual(live.attachments, [{ media_id: id, content_type: 'application/zip', size: bytes.length, filename: 'archive.zip' }]);
    const [stored] = (await history(t.b.baseUrl, bob, dm)).filter((m) => m.message_id === ack.message_id);
    assert.deepEqual(stored.attachments, live.attachments);

    const whole = await download(t.b.baseUrl, bob, id);
    assert.equal(whole.status, 200);
    assert.ok(whole.body.equals(bytes), 'the bytes are the ones uploaded');
    assert.equal(whole.headers.get('content-type'), 'application/zip');
    const part = await download(t.b.baseUrl, bob, id, { range: 'bytes=1000000-1999999' });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(bytes.subarray(1_000_000, 2_000_000)));
    assert.equal(part.headers.get('content-range'), `bytes 1000000-1999999/${bytes.length}`);
    const past = await download(t.b.baseUrl, bob, id, { range: `bytes=${bytes.length + 10}-` });
    assert.equal(past.status, 416);
    assert.equal((await download(t.a.baseUrl, alice, id)).status, 200, 'the uploader');

    assert.equal((await download(t.a.baseUrl, carol, id)).status, 404, 'an outsider');
    assert.equal((await download(t.a.baseUrl, null, id)).status, 401, 'no token');
    assert.equal((await download(t.a.baseUrl, bob, 'no-such-media')).status, 404);
  });

  test('a device that was offline gets the attachments in its replay', async () => {
    await sb.close();
    const id = await upload(t.a.baseUrl, alice, randomBytes(2000), 'text/plain', 'while-away.txt');
    const ack = await sendWith(sa, dm, 'while you were away', [{ media_id: id }]);
    assert.equal(ack.type, 'ack_sent');
    sb = await TestSocket.connectSynced(t.b.wsUrl, bob.token);
    const replayed = sb.frames.find((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    assert.deepEqual(replayed?.attachments, [{ media_id: id, content_type: 'text/plain', size: 2000, filename: 'while-away.txt' }]);
  });

  test('a member who joined after the message does not see its media; one who was there does', async () => {
    const g = await http(t.a.baseUrl, 'POST', '/v1/groups', { token: alice.token, body: { name: 'photos', member_ids: [bob.user_id] } });
    assert.equal(g.status, 201);
    const id = await upload(t.a.baseUrl, alice, randomBytes(1000), 'application/octet-stream');
    const ack = await sendWith(sa, g.body.chat_id, '', [{ media_id: id }]);
    assert.equal(ack.type, 'ack_sent', 'empty content is allowed with an attachment');
    await http(t.a.baseUrl, 'POST', `/v1/groups/${g.body.group_id}/members`, { token: alice.token, body: { user_ids: [carol.user_id] } });
    assert.equal((await download(t.b.baseUrl, bob, id)).status, 200);
    assert.equal((await download(t.a.baseUrl, carol, id)).status, 404);
    // Sent again after carol joined: now she may.
    assert.equal((await sendWith(sa, g.body.chat_id, 'again', [{ media_id: id }])).type, 'ack_sent');
    assert.equal((await download(t.a.baseUrl, carol, id)).status, 200);
  });

  test("refused attachments: someone else's, unknown, not uploaded, short, too many; nothing is stored", async () => {
    const before = (await history(t.a.baseUrl, alice, dm)).length;
    const bobs = await upload(t.b.baseUrl, bob, randomBytes(100), 'text/plain');
    const refusals: [string, { media_id: string }[]][] = [
      ["someone else's", [{ media_id: bobs }]],
      ['unknown', [{ media_id: 'nope' }]],
    ];

    const pending = await createUpload(t.a.baseUrl, alice, { content_type: 'text/plain', size: 100 });
    refusals.push(['never uploaded', [{ media_id: pending.body.media_id }]]);

    const short = await createUpload(t.a.baseUrl, alice, { content_type: 'text/plain', size: 100 });
    // The embedded store refuses a short upload; s3rver keeps it (it does not check the signed length): the send is refused either way.
    await fetch(short.body.upload_url, { method: 'PUT', headers: short.body.upload_headers, body: randomBytes(60) }).catch(() => null);
    refusals.push(['incomplete', [{ media_id: short.body.media_id }]]);

    const mine = await upload(t.a.baseUrl, alice, randomBytes(10), 'text/plain');
    refusals.push(['eleven', Array.from({ length: 11 }, () => ({ media_id: mine }))]);

    for (const [why, attachments] of refusals) {
      const answer = await sendWith(sa, dm, why, attachments);
      assert.equal(answer.type, 'error', why);
      assert.equal(answer.code, 'invalid_attachment', why);
      assert.equal(typeof answer.client_msg_id, 'string');
    }
    assert.equal((await history(t.a.baseUrl, alice, dm)).length, before, 'nothing stored');
    assert.equal((await download(t.a.baseUrl, alice, bobs)).status, 404, "alice cannot fetch bob's unsent upload");
  });

  test('a declaration past the limit is refused with 413; bytes past the declared size are cut off and not stored', async () => {
    const big = await createUpload(t.a.baseUrl, alice, { content_type: 'video/mp4', size: t.maxBytes + 1 });
    assert.equal(big.status, 413);
    assert.equal(big.body.error, 'too_large');
    // Sizes past 2^53 are still sizes past the limit: 413, not 400.
    for (const size of [2 ** 53, 1e300]) {
      const huge = await createUpload(t.a.baseUrl, alice, { content_type: 'video/mp4', size });
      assert.deepEqual([huge.status, huge.body.error], [413, 'too_large'], `size ${size}`);
    }
    assert.equal((await createUpload(t.a.baseUrl, alice, { content_type: 'video/mp4', size: 1.5 })).status, 400);
    // filename: null is no filename, as if left out.
    assert.equal((await createUpload(t.a.baseUrl, alice, { content_type: 'text/plain', size: 1, filename: null })).status, 201);
    assert.equal((await createUpload(t.a.baseUrl, alice, { content_type: 'video/mp4', size: -1 })).status, 400);
    assert.equal((await createUpload(t.a.baseUrl, alice, { content_type: 'not a type', size: 5 })).status, 400);
    // An empty file is a file.
    const empty = await upload(t.a.baseUrl, alice, Buffer.alloc(0), 'text/plain', 'empty.txt');
    assert.equal((await sendWith(sa, dm, 'nothing in it', [{ media_id: empty }])).type, 'ack_sent');
    const got = await download(t.b.baseUrl, bob, empty);
    assert.deepEqual([got.status, got.body.length], [200, 0]);

    const created = await createUpload(t.a.baseUrl, alice, { content_type: 'application/octet-stream', size: 1000 });
    const answer = await rawPut(created.body.upload_url, created.body.upload_headers, randomBytes(1000 + 64 * 1024));
    if (t.storeEnforcesSize) assert.ok(answer === 'cut' || answer >= 400, `an over-long upload is refused (got ${answer})`);
    const send = await sendWith(sa, dm, 'too long', [{ media_id: created.body.media_id }]);
    assert.equal(send.code, 'invalid_attachment');
    assert.equal((await download(t.a.baseUrl, alice, created.body.media_id)).status, 404, 'nothing was kept');
  });

  test('PNG, JPEG and WebP get their dimensions and a thumbnail of at most 320 px, which the members can fetch', async () => {
    const cases = [
      { type: 'image/png', width: 1000, height: 500, make: (s: Sharp) => s.png() },
      { type: 'image/jpeg', width: 600, height: 900, make: (s: Sharp) => s.jpeg() },
      { type: 'image/webp', width: 200, height: 100, make: (s: Sharp) => s.webp() },
    ];
    for (const c of cases) {
      const image = await c
        .make(sharp({ create: { width: c.width, height: c.height, channels: 3, background: { r: 200, g: 30, b: 90 } } }))
        .toBuffer();
      const id = await upload(t.a.baseUrl, alice, image, c.type, `picture.${c.type.slice(6)}`);
      const ack = await sendWith(sa, dm, c.type, [{ media_id: id }]);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      const [att] = live.attachments;
      assert.equal(att.content_type, c.type);
      assert.deepEqual([att.width, att.height], [c.width, c.height]);
      const thumb = att.thumbnail;
      assert.ok(thumb, `${c.type} has a thumbnail`);
      assert.equal(thumb.content_type, c.type);
      const scale = Math.min(1, THUMBNAIL_MAX_PX / Math.max(c.width, c.height));
      assert.deepEqual([thumb.width, thumb.height], [Math.round(c.width * scale), Math.round(c.height * scale)]);
      const fetched = await download(t.b.baseUrl, bob, thumb.media_id);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.headers.get('content-type'), c.type);
      const meta = await sharp(fetched.body).metadata();
      assert.deepEqual([meta.width, meta.height], [thumb.width, thumb.height]);
      assert.ok(Math.max(meta.width!, meta.height!) <= THUMBNAIL_MAX_PX);
      assert.equal((await download(t.a.baseUrl, carol, thumb.media_id)).status, 404, 'a thumbnail is as private as its image');
    }
  });

  test('images too costly to decode are sent without a thumbnail, with the dimensions from their header; the server keeps serving; a normal image still gets one', async () => {
    // 128 MB of decoded pixels from ~125 KB (interlaced, 16-bit RGBA: the decoder holds it all), and 27 Mpx of 8-bit RGB.
    const bombs = [
      { width: 4000, height: 4000, png: zeroPng(4000, 4000, { bits: 16, colorType: 6, interlaced: true }) },
      { width: 6000, height: 4500, png: zeroPng(6000, 4500, { bits: 8, colorType: 2, interlaced: false }) },
    ];
    const ids: string[] = [];
    for (const b of bombs) ids.push(await upload(t.a.baseUrl, alice, b.png, 'image/png', 'bomb.png'));
    const bombSend = sendWith(
      sa,
      dm,
      'bombs',
      ids.map((media_id) => ({ media_id })),
    );
    // Meanwhile the other member keeps talking (from a second device, so sb's frames are read in order below).
    const sc = await TestSocket.connectSynced(t.b.wsUrl, bob.token);
    const chatter = await sendWith(sc, dm, 'still here?', []);
    await sc.close();
    assert.equal(chatter.type, 'ack_sent');
    const ack = await bombSend;
    assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
    const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    assert.deepEqual(
      live.attachments,
      bombs.map((b, i) => ({
        media_id: ids[i],
        content_type: 'image/png',
        size: b.png.length,
        filename: 'bomb.png',
        width: b.width,
        height: b.height,
      })),
      'no thumbnail',
    );
    const got = await download(t.b.baseUrl, bob, ids[0]!);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(bombs[0]!.png), 'the file itself is served');

    const normal = await sharp({ create: { width: 1200, height: 900, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } } })
      .png()
      .toBuffer();
    const id = await upload(t.a.baseUrl, alice, normal, 'image/png', 'normal.png');
    const sent = await sendWith(sa, dm, 'normal', [{ media_id: id }]);
    assert.equal(sent.type, 'ack_sent');
    const msg = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === sent.message_id);
    assert.deepEqual([msg.attachments[0].thumbnail?.width, msg.attachments[0].thumbnail?.height], [320, 240]);
  });

  test(
    'a video gets width, height, duration_ms and a poster-frame thumbnail; a PDF a first-page thumbnail',
    { skip: noPreviewTools ?? false },
    async () => {
      const video = testVideo(640, 360, 3);
      const pdf = testPdf(400, 200);
      const vid = await upload(t.a.baseUrl, alice, video, 'video/mp4', 'clip.mp4');
      const pid = await upload(t.a.baseUrl, alice, pdf, 'application/pdf', 'doc.pdf');
      const ack = await sendWith(sa, dm, 'a clip and a document', [{ media_id: vid }, { media_id: pid }]);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      const [v, p] = live.attachments;
      assert.equal(v.content_type, 'video/mp4');
      assert.deepEqual([v.width, v.height], [640, 360]);
      assert.ok(Math.abs(v.duration_ms - 3000) <= 100, `duration_ms ${v.duration_ms}`);
      assert.deepEqual([v.thumbnail?.content_type, v.thumbnail?.width, v.thumbnail?.height], ['image/jpeg', 320, 180]);
      assert.equal(p.content_type, 'application/pdf');
      assert.equal(p.width, undefined, 'a document has no dimensions of its own');
      assert.deepEqual([p.thumbnail?.content_type, p.thumbnail?.width, p.thumbnail?.height], ['image/jpeg', 320, 160]);
      for (const thumb of [v.thumbnail, p.thumbnail]) {
        const got = await download(t.b.baseUrl, bob, thumb.media_id);
        assert.equal(got.status, 200);
        assert.equal(got.headers.get('content-type'), 'image/jpeg');
        const meta = await sharp(got.body).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', thumb.width, thumb.height]);
        assert.equal((await download(t.a.baseUrl, carol, thumb.media_id)).status, 404, 'a thumbnail is as private as its file');
      }
      // The history carries the same, and the video itself is served whole.
      const stored = (await history(t.b.baseUrl, bob, dm)).find((m) => m.message_id === ack.message_id);
      assert.deepEqual(stored.attachments, live.attachments);
      const whole = await download(t.b.baseUrl, bob, vid);
      assert.ok(whole.body.equals(video));
    },
  );

  test(
    'hostile videos and documents are plain files or get no thumbnail, and the server keeps serving',
    { skip: noPreviewTools ?? false },
    async () => {
      const garbage = randomBytes(200_000);
      const png = await sharp({ create: { width: 50, height: 50, channels: 3, background: { r: 0, g: 0, b: 0 } } })
        .png()
        .toBuffer();
      const huge = await hugeFrameVideo(6000, 4100); // 24.6 Mpx: past the pixel limit, as an image of that size is
      const brokenPdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(5000)]);
      const files = [
        { bytes: garbage, type: 'video/mp4', name: 'garbage.mp4' },
        { bytes: png, type: 'video/quicktime', name: 'image.mov' },
        { bytes: huge, type: 'video/quicktime', name: 'huge.mov' },
        { bytes: brokenPdf, type: 'application/pdf', name: 'broken.pdf' },
      ];
      const ids: string[] = [];
      for (const f of files) ids.push(await upload(t.a.baseUrl, alice, f.bytes, f.type, f.name));
      const hostile = sendWith(
        sa,
        dm,
        'hostile',
        ids.map((media_id) => ({ media_id })),
      );
      // Meanwhile the other member keeps talking (from a second device).
      const sc = await TestSocket.connectSynced(t.b.wsUrl, bob.token);
      const chatter = await sendWith(sc, dm, 'anyone there?', []);
      await sc.close();
      assert.equal(chatter.type, 'ack_sent');
      const ack = await hostile;
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      const plain = (i: number) => ({
        media_id: ids[i],
        content_type: files[i]!.type,
        size: files[i]!.bytes.length,
        filename: files[i]!.name,
      });
      assert.deepEqual(live.attachments[0], plain(0), 'garbage is a plain file');
      assert.deepEqual(live.attachments[1], plain(1), 'an image in no video container is a plain file');
      assert.deepEqual(live.attachments[2], { ...plain(2), width: 6000, height: 4100, duration_ms: 40 }, 'dimensions, no thumbnail');
      assert.deepEqual(live.attachments[3], plain(3), 'a PDF that does not render is a plain file');
      const got = await download(t.b.baseUrl, bob, ids[2]!);
      assert.ok(got.body.equals(huge), 'the file itself is served');

      // A normal video right after still gets its poster frame.
      const id = await upload(t.a.baseUrl, alice, testVideo(320, 240, 1), 'video/mp4', 'fine.mp4');
      const sent = await sendWith(sa, dm, 'fine', [{ media_id: id }]);
      const msg = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === sent.message_id);
      assert.deepEqual([msg.attachments[0].thumbnail?.width, msg.attachments[0].thumbnail?.height], [320, 240]);
    },
  );

  test('one media is carried by at most the configured number of messages; past it the send is refused, earlier ones still serve it', async () => {
    const id = await upload(t.a.baseUrl, alice, randomBytes(50), 'text/plain', 'again.txt');
    for (let i = 0; i < suiteMediaConfig.mediaMaxRefs; i++)
      assert.equal((await sendWith(sa, dm, `copy ${i}`, [{ media_id: id }])).type, 'ack_sent');
    const refused = await sendWith(sa, dm, 'one too many', [{ media_id: id }]);
    assert.deepEqual([refused.type, refused.code], ['error', 'invalid_attachment']);
    assert.match(refused.message, new RegExp(`already sent in ${suiteMediaConfig.mediaMaxRefs} messages`));
    assert.equal((await download(t.b.baseUrl, bob, id)).status, 200, 'the member still fetches it');
    assert.equal((await download(t.a.baseUrl, carol, id)).status, 404, 'an outsider still does not');
    const fresh = await upload(t.a.baseUrl, alice, randomBytes(50), 'text/plain');
    assert.equal((await sendWith(sa, dm, 'a new upload', [{ media_id: fresh }])).type, 'ack_sent', 'other media are unaffected');
  });

  test('a file declared image/png that is no PNG gets no dimensions or thumbnail and is served as declared, nosniff; HTML is a download', async () => {
    const fake = Buffer.from('<html><script>alert(1)</script></html>');
    const id = await upload(t.a.baseUrl, alice, fake, 'image/png', 'cat.png');
    const html = await upload(t.a.baseUrl, alice, fake, 'text/html', 'page.html');
    const ack = await sendWith(sa, dm, 'look', [{ media_id: id }, { media_id: html }]);
    assert.equal(ack.type, 'ack_sent');
    const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
    // PROTOCOL.md: the attachment's content_type and the bytes' Content-Type are the media's own.
    assert.deepEqual(live.attachments[0], {
      media_id: id,
      content_type: 'image/png',
      size: fake.length,
      filename: 'cat.png',
    });
    const got = await download(t.b.baseUrl, bob, id);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'image/png');
    if (!got.redirected) assert.equal(got.headers.get('x-content-type-options'), 'nosniff', 'never sniffed into HTML');
    assert.ok(got.body.equals(fake));
    const page = await download(t.b.baseUrl, bob, html);
    assert.equal(page.headers.get('content-type'), 'text/html');
    assert.match(page.headers.get('content-disposition') ?? '', /^attachment/);
    if (!page.redirected) assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  });

  test('a content type that does not parse is refused; the rest are kept as type/subtype (and a text charset); only safe types are inline', async () => {
    // `text/plain;, text/html` was served inline and Chromium rendered it as HTML; a control character made every fetch a 500.
    for (const bad of [
      'text/plain;, text/html',
      'text/plain; x=\u0001',
      'text/plain\n;x=y',
      'text/plain; charset',
      'text/plain, text/html',
    ]) {
      const r = await createUpload(t.a.baseUrl, alice, { content_type: bad, size: 5 });
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_request'], JSON.stringify(bad));
    }
    const cases = [
      { declared: 'Text/Plain; Charset="UTF-8"; format=flowed', stored: 'text/plain; charset=utf-8', inline: true },
      { declared: 'IMAGE/SVG+XML; charset=utf-8', stored: 'image/svg+xml', inline: false },
      { declared: 'text/html;charset=utf-8', stored: 'text/html; charset=utf-8', inline: false },
      { declared: 'application/pdf; name=x', stored: 'application/pdf', inline: true },
      { declared: 'application/xml', stored: 'application/xml', inline: false },
    ];
    for (const c of cases) {
      const id = await upload(t.a.baseUrl, alice, Buffer.from('<svg onload="alert(1)"/>'), c.declared, 'f');
      const ack = await sendWith(sa, dm, c.declared, [{ media_id: id }]);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const live = await sb.nextWhere((f) => f.type === 'new_message' && f.message_id === ack.message_id);
      assert.equal(live.attachments[0].content_type, c.stored, c.declared);
      const disposition = c.inline ? "inline; filename*=UTF-8''f" : "attachment; filename*=UTF-8''f";
      // Straight from the API (or the store it redirects to), and through a link.
      const direct = await fetch(`${t.b.baseUrl}/v1/media/${id}`, {
        headers: { authorization: `Bearer ${bob.token}` },
        redirect: 'manual',
      });
      const link = await http(t.b.baseUrl, 'GET', `/v1/media/${id}/link`, { token: bob.token });
      for (const res of [direct, await fetch(link.body.url)]) {
        let got = res;
        if (res.status === 302) {
          const location = new URL(res.headers.get('location')!);
          if (location.searchParams.has('X-Amz-Signature')) {
            // The bucket answers with the server's headers, not the ones stored with the object.
            assert.equal(location.searchParams.get('response-content-type'), c.stored);
            assert.equal(location.searchParams.get('response-content-disposition'), disposition);
          }
          got = await fetch(location);
        }
        assert.equal(got.status, 200, c.declared);
        assert.equal(got.headers.get('content-type'), c.stored, c.declared);
        assert.equal(got.headers.get('content-disposition'), disposition, c.declared);
        await got.arrayBuffer();
      }
      if (direct.status === 302) assert.ok(new URL(link.body.url).searchParams.has('X-Amz-Signature'), 'a link is presigned too');
    }
  });

  test('an upload never sent is deleted by the sweeper; a sent one stays', async () => {
    const orphan = await upload(t.a.baseUrl, alice, randomBytes(100), 'text/plain');
    const kept = await upload(t.a.baseUrl, alice, randomBytes(100), 'text/plain');
    assert.equal((await sendWith(sa, dm, 'keep', [{ media_id: kept }])).type, 'ack_sent');
    // The suite's servers sweep uploads older than 4 s every 250 ms.
    const deadline = Date.now() + 15_000;
    while ((await download(t.a.baseUrl, alice, orphan)).status !== 404) {
      assert.ok(Date.now() < deadline, 'the orphan was not swept');
      await sleep(200);
    }
    assert.equal((await sendWith(sa, dm, 'late', [{ media_id: orphan }])).code, 'invalid_attachment');
    assert.equal((await download(t.b.baseUrl, bob, kept)).status, 200);
  });

  test('a repeated send keeps the media its message carries; media only named by a repeat of a send without it is swept', async () => {
    // A retry (same client_msg_id, same media): the stored message keeps it.
    const kept = await upload(t.a.baseUrl, alice, randomBytes(100), 'text/plain', 'kept.txt');
    const retried = randomUUID();
    const first = await sendWith(sa, dm, 'with a file', [{ media_id: kept }], retried);
    assert.equal(first.type, 'ack_sent', JSON.stringify(first));
    const again = await sendWith(sa, dm, 'with a file', [{ media_id: kept }], retried);
    assert.deepEqual([again.type, again.message_id], ['ack_sent', first.message_id]);

    // A repeat of a send that carried no media, now naming one: the stored message is the
    // first, so nothing stored carries the media and the sweeper takes it (PROTOCOL.md:
    // "Media never attached to a message may be deleted a day after upload").
    const plain = randomUUID();
    const stored = await sendWith(sa, dm, 'no file', [], plain);
    assert.equal(stored.type, 'ack_sent');
    const dropped = await upload(t.a.baseUrl, alice, randomBytes(100), 'text/plain', 'dropped.txt');
    const repeat = await sendWith(sa, dm, 'no file', [{ media_id: dropped }], plain);
    assert.deepEqual([repeat.type, repeat.message_id], ['ack_sent', stored.message_id]);
    assert.equal((await download(t.a.baseUrl, alice, dropped)).status, 200, 'the uploader may fetch it until it is swept');

    // The suite's servers sweep uploads older than 4 s every 250 ms; the retry above is older than the repeat.
    const deadline = Date.now() + 15_000;
    while ((await download(t.a.baseUrl, alice, dropped)).status !== 404) {
      assert.ok(Date.now() < deadline, 'media named only by a send that stored nothing was not swept');
      await sleep(200);
    }
    assert.equal((await sendWith(sa, dm, 'late', [{ media_id: dropped }])).code, 'invalid_attachment');
    const got = await download(t.b.baseUrl, bob, kept);
    assert.equal(got.status, 200, 'the retried media stays');
    const [message] = (await history(t.b.baseUrl, bob, dm)).filter((m) => m.message_id === first.message_id);
    assert.deepEqual(message.attachments, [{ media_id: kept, content_type: 'text/plain', size: 100, filename: 'kept.txt' }]);
    const [plainMessage] = (await history(t.b.baseUrl, bob, dm)).filter((m) => m.message_id === stored.message_id);
    assert.equal(plainMessage.attachments, undefined);
  });
}

/** Media settings every suite server runs with (small limits and a fast sweeper, so the tests are quick). */
export const suiteMediaConfig = {
  mediaMaxBytes: 8 * 1024 * 1024,
  mediaOrphanAgeMs: 4_000,
  mediaSweepIntervalMs: 250,
  /** Low, so the cap is reached in a few sends (the tests above send one media at most 3 times otherwise). */
  mediaMaxRefs: 4,
} as const;
