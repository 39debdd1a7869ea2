import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { createUsers, runTag, socketUrl, type Session } from './api.js';
import type { Target } from './server.js';
import { fmtMs, summarize, table, type Summary } from './stats.js';

/*
 * `npm run bench -- history` (issue 20): what edits and reactions cost history reads. Two
 * groups of the same members get the same M messages; in the second, a share of them is
 * edited and R reactions are spread over them (one per member per message, as the protocol
 * allows). Then every page of each chat's history is read (backwards, 200 a page, the way a
 * client scrolls up), several times, and GET /v1/chats; the plain chat is the baseline.
 */

export interface HistoryOptions {
  messages: number;
  editedShare: number;
  reactions: number;
  members: number;
  rounds: number;
}

export interface HistoryResult {
  opts: HistoryOptions;
  writeSeconds: { plain: number; busy: number };
  entries: { plain: number; busy: number };
  pageMs: { plain: Summary; busy: Summary };
  fullScanMs: { plain: number[]; busy: number[] };
  chatsMs: Summary;
}

const EMOJI = ['👍', '❤️', '😂', '🎉', '🙏', '😮'];
const BATCH = 100;

/** One member's socket, opened with ?batch=1: frames go out 100 to a message, answers matched by client_msg_id. */
class BatchSocket {
  private readonly waiting = new Map<string, { resolve: (f: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      // The server may answer with an array of frames too (PROTOCOL.md "Batching").
      const parsed = JSON.parse(d.toString()) as Record<string, unknown> | Record<string, unknown>[];
      for (const f of Array.isArray(parsed) ? parsed : [parsed]) {
        const id = typeof f.client_msg_id === 'string' ? f.client_msg_id : undefined;
        const w = id ? this.waiting.get(id) : undefined;
        if (!w || (f.type !== 'ack_sent' && f.type !== 'error')) continue;
        this.waiting.delete(id!);
        if (f.type === 'error') w.reject(new Error(`${String(f.code)}: ${String(f.message)}`));
        else w.resolve(f);
      }
    });
  }
  static async open(baseUrl: string, s: Session): Promise<BatchSocket> {
    const ws = new WebSocket(`${socketUrl(baseUrl, s)}&batch=1`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new BatchSocket(ws);
  }
  /** Sends frames (each with a fresh client_msg_id) in batches; resolves with their acks in order. */
  async sendAll(frames: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
    const acks: Promise<Record<string, unknown>>[] = [];
    for (let i = 0; i < frames.length; i += BATCH) {
      const batch = frames.slice(i, i + BATCH).map((f) => ({ ...f, client_msg_id: randomUUID() }));
      for (const f of batch) acks.push(new Promise((resolve, reject) => this.waiting.set(f.client_msg_id, { resolve, reject })));
      this.ws.send(JSON.stringify(batch));
      // A window of ten batches in flight: enough to keep the server's batches full.
      if (acks.length >= 10 * BATCH) await acks[acks.length - 10 * BATCH];
    }
    return Promise.all(acks);
  }
  close(): void {
    this.ws.close();
  }
}

async function getJson(baseUrl: string, path: string, token: string): Promise<any> {
  const res = await fetch(baseUrl + path, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

async function createGroup(baseUrl: string, owner: Session, memberIds: string[], name: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/groups`, {
    method: 'POST',
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, member_ids: memberIds }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/groups: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { chat_id: string }).chat_id;
}

/** Member i sends messages i, i+members, ...: every member writes, as in a real group. */
async function fill(sockets: BatchSocket[], chatId: string, count: number): Promise<{ ids: string[]; senders: number[] }> {
  const n = sockets.length;
  const ids: string[] = new Array<string>(count);
  const senders: number[] = new Array<number>(count);
  await Promise.all(
    sockets.map(async (s, k) => {
      const mine = Array.from({ length: Math.ceil((count - k) / n) }, (_, j) => k + j * n).filter((i) => i < count);
      const acks = await s.sendAll(
        mine.map((i) => ({ type: 'send_message', chat_id: chatId, content: `message ${i} of the history bench` })),
      );
      mine.forEach((i, j) => {
        ids[i] = acks[j]!.message_id as string;
        senders[i] = k;
      });
    }),
  );
  return { ids, senders };
}

async function readAll(baseUrl: string, reader: Session, chatId: string, pages: number[]): Promise<{ ms: number; entries: number }> {
  const started = performance.now();
  let before: number | null = null;
  let entries = 0;
  for (;;) {
    const t = performance.now();
    const q: string = before === null ? 'limit=200' : `limit=200&before=${before}`;
    const page = (await getJson(baseUrl, `/v1/chats/${encodeURIComponent(chatId)}/messages?${q}`, reader.token)) as {
      messages: unknown[];
      next_cursor: number | null;
    };
    pages.push(performance.now() - t);
    entries += page.messages.length;
    if (page.next_cursor === null || page.messages.length === 0) break;
    before = page.next_cursor;
  }
  return { ms: performance.now() - started, entries };
}

export async function runHistory(target: Target, opts: HistoryOptions, log: (s: string) => void): Promise<HistoryResult> {
  const { baseUrl } = target;
  const members = Math.max(2, opts.members);
  const sessions = (await createUsers(baseUrl, { prefix: `hist${runTag()}`, count: members })).map((s) => s[0]!);
  const sockets = await Promise.all(sessions.map((s) => BatchSocket.open(baseUrl, s)));
  const ids = sessions.slice(1).map((s) => s.user_id);
  const plain = await createGroup(baseUrl, sessions[0]!, ids, 'plain');
  const busy = await createGroup(baseUrl, sessions[0]!, ids, 'busy');

  log(`writing ${opts.messages} messages to each of two ${members}-member groups`);
  let t = performance.now();
  await fill(sockets, plain, opts.messages);
  const plainSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const { ids: messageIds, senders } = await fill(sockets, busy, opts.messages);

  // Edits: every 1/share-th message, by its own sender.
  const editEvery = opts.editedShare > 0 ? Math.max(1, Math.round(1 / opts.editedShare)) : 0;
  const edits: Record<string, unknown>[][] = sockets.map(() => []);
  if (editEvery) {
    for (let i = 0; i < opts.messages; i += editEvery) {
      edits[senders[i]!]!.push({ type: 'edit_message', chat_id: busy, message_id: messageIds[i], content: `message ${i}, edited` });
    }
  }
  // Reactions: member k reacts to message i when (i + k) mod members < per-message share.
  const perMessage = Math.min(members, Math.ceil(opts.reactions / opts.messages));
  const reacts: Record<string, unknown>[][] = sockets.map(() => []);
  let placed = 0;
  for (let i = 0; i < opts.messages && placed < opts.reactions; i++) {
    for (let j = 0; j < perMessage && placed < opts.reactions; j++, placed++) {
      const k = (i + j) % members;
      reacts[k]!.push({ type: 'react', chat_id: busy, message_id: messageIds[i], emoji: EMOJI[(i + k) % EMOJI.length] });
    }
  }
  log(`changing the second group: ${edits.flat().length} edits, ${placed} reactions`);
  await Promise.all(sockets.map((s, k) => s.sendAll([...edits[k]!, ...reacts[k]!])));
  const busySeconds = (performance.now() - t) / 1000;
  for (const s of sockets) s.close();

  const reader = sessions[members - 1]!;
  const pages = { plain: [] as number[], busy: [] as number[] };
  const full = { plain: [] as number[], busy: [] as number[] };
  const entries = { plain: 0, busy: 0 };
  for (let r = 0; r < opts.rounds; r++) {
    // Alternating, so that neither chat always reads a warmer cache.
    for (const which of r % 2 === 0 ? (['plain', 'busy'] as const) : (['busy', 'plain'] as const)) {
      const got = await readAll(baseUrl, reader, which === 'plain' ? plain : busy, pages[which]);
      full[which].push(got.ms);
      entries[which] = got.entries;
    }
  }
  const chats: number[] = [];
  for (let i = 0; i < 50; i++) {
    const c = performance.now();
    await getJson(baseUrl, '/v1/chats', reader.token);
    chats.push(performance.now() - c);
  }
  return {
    opts,
    writeSeconds: { plain: plainSeconds, busy: busySeconds },
    entries,
    pageMs: { plain: summarize(pages.plain), busy: summarize(pages.busy) },
    fullScanMs: full,
    chatsMs: summarize(chats),
  };
}

export function printHistory(r: HistoryResult, log: (s: string) => void): void {
  const o = r.opts;
  log(
    `history of ${o.messages} messages, ${o.members} members; busy chat: ${Math.round(o.editedShare * 100)}% edited, ${o.reactions} reactions`,
  );
  const row = (name: 'plain' | 'busy') => [
    name,
    String(r.entries[name]),
    r.writeSeconds[name].toFixed(1),
    fmtMs(r.pageMs[name].p50),
    fmtMs(r.pageMs[name].p99),
    fmtMs(Math.min(...r.fullScanMs[name])),
    fmtMs(Math.max(...r.fullScanMs[name])),
  ];
  log(
    table([
      ['chat', 'messages read', 'write s', 'page p50', 'page p99', 'all pages (best)', 'all pages (worst)'],
      row('plain'),
      row('busy'),
    ]),
  );
  log(`GET /v1/chats (the reader's two groups): p50 ${fmtMs(r.chatsMs.p50)}, p99 ${fmtMs(r.chatsMs.p99)}`);
}
