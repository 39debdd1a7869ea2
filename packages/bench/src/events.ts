import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { createUsers, runTag, socketUrl, type Session } from './api.js';
import type { Target } from './server.js';
import { fmtMs, sleep, summarize, table, type Summary } from './stats.js';

/*
 * `npm run bench -- events` (issue 24): delivery latency over the three transports of
 * PROTOCOL.md, the WebSocket, Server-Sent Events and long polling, under the same load.
 * Each pair is one user on the transport under test and one on a WebSocket; both send to
 * each other at a fixed rate. "to the client" is send → receipt on the transport under
 * test (the server writing to a stream); "from the client" is a send made on it (a frame,
 * or a POST) → receipt by the WebSocket peer. Every message is acknowledged (ack_delivered
 * per burst), as clients do. Timestamps travel in the content; one process, one clock.
 */

export type EventsTransport = 'websocket' | 'sse' | 'long-poll';

export interface EventsOptions {
  pairs: number;
  /** Messages per second each side of a pair sends. */
  rate: number;
  seconds: number;
  transports: EventsTransport[];
}

export interface EventsRow {
  transport: EventsTransport;
  toClient: Summary;
  fromClient: Summary;
  lost: number;
}

type Frame = Record<string, unknown> & { type: string };

/** One end of a pair: frames in, frames out. */
interface End {
  send(frame: object): void;
  onFrame: (f: Frame) => void;
  close(): void;
}

async function openWs(baseUrl: string, s: Session, onFrame: (f: Frame) => void): Promise<End> {
  const ws = new WebSocket(socketUrl(baseUrl, s));
  const end: End = {
    send: (f) => ws.send(JSON.stringify(f)),
    onFrame,
    close: () => ws.terminate(),
  };
  ws.on('message', (d) => end.onFrame(JSON.parse(d.toString()) as Frame));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return end;
}

/** A stream of GET /v1/events; frames out by POST, one at a time, those queued meanwhile batched. */
async function openStream(baseUrl: string, s: Session, mode: 'sse' | 'long-poll', onFrame: (f: Frame) => void): Promise<End> {
  const headers = { authorization: `Bearer ${s.token}` };
  const abort = new AbortController();
  let streamId = '';
  let closed = false;
  const queue: string[] = [];
  let posting = false;
  const flush = async () => {
    posting = true;
    while (queue.length > 0 && !closed) {
      const batch = queue.splice(0, 100);
      const res = await fetch(`${baseUrl}/v1/events/${streamId}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: `[${batch.join(',')}]`,
      });
      await res.arrayBuffer();
    }
    posting = false;
  };
  const end: End = {
    send: (f) => {
      queue.push(JSON.stringify(f));
      if (!posting) void flush().catch(() => (posting = false));
    },
    onFrame,
    close: () => {
      closed = true;
      abort.abort();
    },
  };
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const take = (f: Frame) => {
    if (f.type === 'stream') {
      streamId = String(f.stream_id);
      opened();
    } else end.onFrame(f);
  };
  const res = await fetch(`${baseUrl}/v1/events`, {
    headers: { ...headers, accept: mode === 'sse' ? 'text/event-stream' : 'application/json' },
    signal: abort.signal,
  });
  if (res.status !== 200) throw new Error(`GET /v1/events: HTTP ${res.status}`);
  if (mode === 'sse') {
    void (async () => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith('data: ')) take(JSON.parse(block.slice(6)) as Frame);
        }
      }
    })().catch(() => {});
  } else {
    for (const f of ((await res.json()) as { frames: Frame[] }).frames) take(f);
    void (async () => {
      while (!closed) {
        const r = await fetch(`${baseUrl}/v1/events?stream_id=${streamId}`, {
          headers: { ...headers, accept: 'application/json' },
          signal: abort.signal,
        });
        for (const f of ((await r.json()) as { frames: Frame[] }).frames) take(f);
      }
    })().catch(() => {});
  }
  await open;
  return end;
}

/** Acknowledges received messages once per turn (as the SDK's ack batcher does). */
function acker(end: End): (messageId: string) => void {
  let ids: string[] = [];
  return (id) => {
    if (ids.push(id) > 1) return;
    setImmediate(() => {
      end.send({ type: 'ack_delivered', message_ids: ids });
      ids = [];
    });
  };
}

export async function runEvents(target: Target, opts: EventsOptions, log: (s: string) => void): Promise<EventsRow[]> {
  const rows: EventsRow[] = [];
  for (const transport of opts.transports) {
    const tag = runTag();
    const sessions = await createUsers(target.baseUrl, { prefix: `ev${tag}`, count: opts.pairs * 2 });
    const toClient: number[] = [];
    const fromClient: number[] = [];
    let expected = 0;
    let received = 0;
    const ends: End[] = [];
    const pairs: { a: End; b: End; chat: string }[] = [];
    for (let p = 0; p < opts.pairs; p++) {
      const sa = sessions[2 * p]![0]!;
      const sb = sessions[2 * p + 1]![0]!;
      const chat = sa.user_id < sb.user_id ? `dm:${sa.user_id}:${sb.user_id}` : `dm:${sb.user_id}:${sa.user_id}`;
      const record = (into: number[]) => (f: Frame) => {
        if (f.type !== 'new_message') return;
        const sentAt = Number(String(f.content).split(' ')[0]);
        if (sentAt > 0) {
          into.push(performance.now() - sentAt);
          received++;
        }
      };
      const toA = record(toClient);
      const toB = record(fromClient);
      const a =
        transport === 'websocket' ? await openWs(target.baseUrl, sa, () => {}) : await openStream(target.baseUrl, sa, transport, () => {});
      const b = await openWs(target.baseUrl, sb, () => {});
      const ackA = acker(a);
      const ackB = acker(b);
      a.onFrame = (f) => {
        toA(f);
        if (f.type === 'new_message') ackA(String(f.message_id));
      };
      b.onFrame = (f) => {
        toB(f);
        if (f.type === 'new_message') ackB(String(f.message_id));
      };
      ends.push(a, b);
      pairs.push({ a, b, chat });
    }
    await sleep(500); // replays (empty) done, sync_complete sent
    log(`events: ${transport}: ${opts.pairs} pairs, ${opts.rate} msg/s each way per pair, ${opts.seconds} s`);
    const interval = 1000 / opts.rate;
    const started = performance.now();
    let tick = 0;
    while (performance.now() - started < opts.seconds * 1000) {
      for (const { a, b, chat } of pairs) {
        const now = performance.now();
        b.send({ type: 'send_message', chat_id: chat, client_msg_id: randomUUID(), content: `${now} to a` });
        a.send({ type: 'send_message', chat_id: chat, client_msg_id: randomUUID(), content: `${now} to b` });
        expected += 2;
      }
      tick++;
      const next = started + tick * interval;
      await sleep(Math.max(0, next - performance.now()));
    }
    const deadline = performance.now() + 10_000;
    while (received < expected && performance.now() < deadline) await sleep(50);
    for (const e of ends) e.close();
    const row = { transport, toClient: summarize(toClient), fromClient: summarize(fromClient), lost: expected - received };
    rows.push(row);
    log(
      `events: ${transport}: to the client p50 ${fmtMs(row.toClient.p50)} p99 ${fmtMs(row.toClient.p99)}; from the client p50 ${fmtMs(row.fromClient.p50)} p99 ${fmtMs(row.fromClient.p99)}; missing ${row.lost}`,
    );
  }
  return rows;
}

export function printEvents(rows: EventsRow[], log: (s: string) => void): void {
  log('');
  log('delivery latency by transport (ms; send → receipt):');
  log(
    table([
      ['transport', 'to client p50', 'p90', 'p99', 'max', 'from client p50', 'p90', 'p99', 'max', 'messages', 'missing'],
      ...rows.map((r) => [
        r.transport,
        fmtMs(r.toClient.p50),
        fmtMs(r.toClient.p90),
        fmtMs(r.toClient.p99),
        fmtMs(r.toClient.max),
        fmtMs(r.fromClient.p50),
        fmtMs(r.fromClient.p90),
        fmtMs(r.fromClient.p99),
        fmtMs(r.fromClient.max),
        String(r.toClient.count + r.fromClient.count),
        String(r.lost),
      ]),
    ]),
  );
}
