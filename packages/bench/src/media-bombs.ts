import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { directChatId } from '@switchboard/protocol';
import { zeroPng } from '@switchboard/server/testing/zero-png';
import { createUsers, runTag, socketUrl, type Session } from './api.js';
import { readRss, type Target } from './server.js';
import { fmtBytes, table } from './stats.js';

/*
 * `npm run bench -- media-bombs` (issue 19, media): what hostile media cost the server.
 * 1. Decode bombs: PNGs of 7,070 x 7,070 pixels, 16-bit RGBA, interlaced (400 MB of pixels
 *    from ~390 KB of zlib), sent four to a message; the server's RSS is sampled every 50 ms
 *    throughout. Then an ordinary 2,000 x 1,500 PNG, which must still get its thumbnail.
 * 2. Fetch cost with many references: one small file sent R times in one chat; then the
 *    time of GET /v1/media/{id} for a member and for an outsider (the outsider's check
 *    finds nothing, so it is the one that would walk every reference).
 */

export interface MediaBombsOptions {
  /** Bomb images in all, sent four to a message. */
  bombs: number;
  /** Messages carrying the one file of part 2. */
  refs: number;
  /** Fetches timed per caller. */
  fetches: number;
}

export interface MediaBombsResult {
  bombBytes: number;
  bombs: number;
  rss: { before: number; peak: number; after: number };
  bombSendMs: number[];
  bombAttachments: unknown[];
  normalThumbnail: boolean;
  refs: number;
  sendSeconds: number;
  fetchMs: { member: { p50: number; p99: number }; outsider: { p50: number; p99: number } };
}

class Socket {
  private readonly waiting = new Map<string, (f: Record<string, unknown>) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Record<string, unknown>;
      const done = typeof f.client_msg_id === 'string' ? this.waiting.get(f.client_msg_id) : undefined;
      if (done && (f.type === 'ack_sent' || f.type === 'error')) done(f);
    });
  }
  static async open(baseUrl: string, s: Session): Promise<Socket> {
    const ws = new WebSocket(socketUrl(baseUrl, s));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new Socket(ws);
  }
  send(chatId: string, mediaIds: string[]): Promise<Record<string, unknown>> {
    const clientMsgId = randomUUID();
    const answer = new Promise<Record<string, unknown>>((resolve) => this.waiting.set(clientMsgId, resolve));
    this.ws.send(
      JSON.stringify({
        type: 'send_message',
        chat_id: chatId,
        client_msg_id: clientMsgId,
        content: '',
        attachments: mediaIds.map((media_id) => ({ media_id })),
      }),
    );
    return answer.finally(() => this.waiting.delete(clientMsgId));
  }
  close(): void {
    this.ws.close();
  }
}

async function upload(baseUrl: string, s: Session, bytes: Buffer, contentType: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ content_type: contentType, size: bytes.length }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/media: HTTP ${res.status} ${await res.text()}`);
  const t = (await res.json()) as { media_id: string; upload_url: string; upload_method: string; upload_headers: Record<string, string> };
  const put = await fetch(t.upload_url, { method: t.upload_method, headers: t.upload_headers, body: bytes });
  if (!put.ok) throw new Error(`upload: HTTP ${put.status}`);
  return t.media_id;
}

/** Milliseconds of one GET /v1/media/{id} (body read, redirect not followed), and its status. */
async function timedFetch(baseUrl: string, s: Session, id: string): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/v1/media/${id}`, { headers: { authorization: `Bearer ${s.token}` }, redirect: 'manual' });
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function runMediaBombs(t: Target, opts: MediaBombsOptions, log: (s: string) => void): Promise<MediaBombsResult> {
  const [alice, bob, carol] = (await createUsers(t.baseUrl, { prefix: `mb${runTag()}`, count: 3 })).map((d) => d[0]!);
  const dm = directChatId(alice!.user_id, bob!.user_id);
  const sock = await Socket.open(t.baseUrl, alice!);
  try {
    // 1. Bombs.
    const bomb = zeroPng(7070, 7070, { bits: 16, colorType: 6, interlaced: true });
    log(`bomb: 7070 x 7070 16-bit RGBA interlaced PNG, ${fmtBytes(bomb.length)} (${fmtBytes(7070 * 7070 * 8)} of pixels)`);
    const ids: string[] = [];
    for (let i = 0; i < opts.bombs; i++) ids.push(await upload(t.baseUrl, alice!, bomb, 'image/png'));
    const before = readRss(t.pid);
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, readRss(t.pid))), 50);
    const bombSendMs: number[] = [];
    const bombAttachments: unknown[] = [];
    try {
      for (let i = 0; i < ids.length; i += 4) {
        const t0 = performance.now();
        const ack = await sock.send(dm, ids.slice(i, i + 4));
        bombSendMs.push(performance.now() - t0);
        if (ack.type !== 'ack_sent') throw new Error(`bomb send refused: ${JSON.stringify(ack)}`);
        bombAttachments.push(...((ack.attachments as unknown[] | undefined) ?? []));
      }
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, readRss(t.pid));
    const after = readRss(t.pid);
    log(
      `bombs: RSS ${fmtBytes(before)} before, ${fmtBytes(peak)} peak, ${fmtBytes(after)} after; sends took ${bombSendMs.map((ms) => ms.toFixed(0)).join(', ')} ms`,
    );

    const normalId = await upload(t.baseUrl, alice!, zeroPng(2000, 1500, { bits: 8, colorType: 2, interlaced: false }), 'image/png');
    const normalAck = await sock.send(dm, [normalId]);
    const history = await fetch(`${t.baseUrl}/v1/chats/${encodeURIComponent(dm)}/messages?limit=1`, {
      headers: { authorization: `Bearer ${bob!.token}` },
    });
    const last = ((await history.json()) as { messages: { message_id: string; attachments?: { thumbnail?: unknown }[] }[] }).messages.find(
      (m) => m.message_id === normalAck.message_id,
    );
    const normalThumbnail = !!last?.attachments?.[0]?.thumbnail;
    log(`an ordinary 2000 x 1500 PNG after them: ${normalThumbnail ? 'thumbnailed' : 'NO thumbnail'}`);
    const lastBombs = await fetch(`${t.baseUrl}/v1/chats/${encodeURIComponent(dm)}/messages?limit=10`, {
      headers: { authorization: `Bearer ${bob!.token}` },
    });
    const withBombs = ((await lastBombs.json()) as { messages: { attachments?: unknown[] }[] }).messages.find(
      (m) => (m.attachments?.length ?? 0) === 4,
    );
    if (withBombs) bombAttachments.splice(0, bombAttachments.length, ...withBombs.attachments!);

    // 2. One file, many references.
    const file = await upload(t.baseUrl, alice!, randomBytes(1000), 'application/octet-stream');
    const s0 = performance.now();
    const pending: Promise<Record<string, unknown>>[] = [];
    for (let i = 0; i < opts.refs; i++) {
      pending.push(sock.send(dm, [file]));
      if (pending.length >= 50)
        for (const a of await Promise.all(pending.splice(0))) if (a.type !== 'ack_sent') throw new Error(`send ${i}: ${JSON.stringify(a)}`);
    }
    for (const a of await Promise.all(pending)) if (a.type !== 'ack_sent') throw new Error(`send: ${JSON.stringify(a)}`);
    const sendSeconds = (performance.now() - s0) / 1000;
    log(`one file sent in ${opts.refs} messages in ${sendSeconds.toFixed(1)} s`);
    const time = async (who: Session, want: number) => {
      const ms: number[] = [];
      for (let i = 0; i < opts.fetches; i++) {
        const r = await timedFetch(t.baseUrl, who, file);
        if (r.status !== want) throw new Error(`fetch answered ${r.status}, expected ${want}`);
        ms.push(r.ms);
      }
      return { p50: pct(ms, 50), p99: pct(ms, 99) };
    };
    await time(bob!, 200); // warm-up
    const member = await time(bob!, 200);
    const outsider = await time(carol!, 404);
    return {
      bombBytes: bomb.length,
      bombs: opts.bombs,
      rss: { before, peak, after },
      bombSendMs,
      bombAttachments: bombAttachments.slice(0, 1),
      normalThumbnail,
      refs: opts.refs,
      sendSeconds,
      fetchMs: { member, outsider },
    };
  } finally {
    sock.close();
  }
}

export function printMediaBombs(r: MediaBombsResult, log: (s: string) => void): void {
  log(
    table([
      ['bombs', 'bomb size', 'RSS before', 'RSS peak', 'RSS after', 'send ms (4 per message)'],
      [
        String(r.bombs),
        fmtBytes(r.bombBytes),
        fmtBytes(r.rss.before),
        fmtBytes(r.rss.peak),
        fmtBytes(r.rss.after),
        r.bombSendMs.map((ms) => ms.toFixed(0)).join(', '),
      ],
    ]),
  );
  log(`a bomb's attachment: ${JSON.stringify(r.bombAttachments[0])}; ordinary image thumbnailed: ${r.normalThumbnail}`);
  log(
    table([
      ['messages carrying the file', 'caller', 'GET /v1/media p50 ms', 'p99 ms'],
      [String(r.refs), 'member', r.fetchMs.member.p50.toFixed(2), r.fetchMs.member.p99.toFixed(2)],
      [String(r.refs), 'outsider (404)', r.fetchMs.outsider.p50.toFixed(2), r.fetchMs.outsider.p99.toFixed(2)],
    ]),
  );
}
