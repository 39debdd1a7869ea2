import { parentPort } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { AckBatcher } from '@switchboard/client';

/*
 * A worker thread of the `group` scenario: holds a share of the group's member sockets,
 * records when each member gets each group message (first and last arrival per message,
 * and how many members got it), and acknowledges delivery with the SDK's own AckBatcher:
 * at once after a quiet spell, then at most one ack_delivered per socket per window
 * (ACK_WINDOW_MS, 100 ms; --ack-delay MS sets another window).
 *
 * Message content is "scheduledEpochMs|step|k|padding", so arrivals are keyed by (step, k)
 * without a lookup table. Times are epoch ms from performance.timeOrigin + performance.now(),
 * the same clock as the coordinator's.
 */

export interface MemberInit {
  t: 'init';
  index: number;
  urls: string[];
  chatId: string;
  /** Messages planned per step, to size the arrays. */
  counts: number[];
  receipts: boolean;
  ackDelayMs: number;
  /** ack_read of the latest message every this many ms per member that got one (0: none); waiting ack_delivered ids go with it. */
  readIntervalMs: number;
  connectTimeoutMs: number;
}
type In = MemberInit | { t: 'step'; step: number } | { t: 'report' } | { t: 'close' };

export interface MemberStepReport {
  /** Per message k: earliest / latest arrival among this worker's members (NaN when none), and how many got it. */
  first: Float64Array;
  last: Float64Array;
  count: Int32Array;
  /** Event-loop delay of this worker while the step ran (ms). */
  loopP99: number;
  loopMax: number;
}

export type MemberEvent =
  | { t: 'ready'; index: number; seconds: number }
  | { t: 'progress'; index: number; received: number }
  | {
      t: 'report';
      index: number;
      steps: MemberStepReport[];
      /** Arrivals per 100 ms bucket (key = floor(epochMs / 100)). */
      buckets: [number, number][];
      received: number;
      duplicates: number;
      outOfOrder: number;
      ackFrames: number;
      ackIds: number;
      readFrames: number;
      errors: Record<string, number>;
      closedEarly: number;
    }
  | { t: 'failed'; index: number; message: string };

const now = () => performance.timeOrigin + performance.now();
const send = (e: MemberEvent) => parentPort!.postMessage(e);

class Member {
  ws!: WebSocket;
  lastSeq = -1;
  acks: AckBatcher | null = null;
  /** The latest message received and not yet covered by an ack_read. */
  unread: string | null = null;
}

let cfg: MemberInit;
const members: Member[] = [];
let steps: { first: Float64Array; last: Float64Array; count: Int32Array; loopP99: number; loopMax: number }[] = [];
const buckets = new Map<number, number>();
let received = 0;
let duplicates = 0;
let outOfOrder = 0;
let ackFrames = 0;
let ackIds = 0;
let readFrames = 0;
let closedEarly = 0;
let closing = false;
const errors: Record<string, number> = {};
const eld = monitorEventLoopDelay({ resolution: 5 });
let currentStep = -1;

/** The SDK's ack batching for one member's socket (what real clients send). */
function ackBatcher(m: Member): AckBatcher {
  const send = (frame: { type: 'ack_delivered'; message_ids: string[] }) => {
    if (m.ws.readyState !== WebSocket.OPEN) return;
    m.ws.send(JSON.stringify(frame));
    ackFrames++;
    ackIds += frame.message_ids.length;
  };
  return cfg.ackDelayMs > 0 ? new AckBatcher(send, cfg.ackDelayMs) : new AckBatcher(send);
}

/** The value of a top-level string field, read without JSON.parse (our own frames; no escapes in these fields). */
function strField(s: string, name: string): string | null {
  const key = `"${name}":"`;
  const i = s.indexOf(key);
  if (i < 0) return null;
  const j = s.indexOf('"', i + key.length);
  return j < 0 ? null : s.slice(i + key.length, j);
}

function numField(s: string, name: string): number {
  const key = `"${name}":`;
  const i = s.indexOf(key);
  if (i < 0) return NaN;
  let j = i + key.length;
  while (j < s.length && ((s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) || s[j] === '-')) j++;
  return Number(s.slice(i + key.length, j));
}

function onFrame(m: Member, raw: string): void {
  const t = now();
  if (!raw.includes('"type":"new_message"')) {
    if (raw.includes('"type":"error"')) {
      let code = 'error';
      try {
        code = String(JSON.parse(raw).code);
      } catch {
        /* keep */
      }
      errors[code] = (errors[code] ?? 0) + 1;
    }
    return;
  }
  const messageId = strField(raw, 'message_id');
  const seq = numField(raw, 'seq');
  const content = strField(raw, 'content');
  if (messageId === null || content === null || !Number.isFinite(seq)) {
    errors.bad_frame = (errors.bad_frame ?? 0) + 1;
    return;
  }
  if (seq <= m.lastSeq) {
    duplicates++;
  } else {
    if (m.lastSeq >= 0 && seq !== m.lastSeq + 1) outOfOrder++; // a gap: only the creator sends, so seqs should be consecutive
    m.lastSeq = seq;
    received++;
    const b1 = content.indexOf('|');
    const b2 = content.indexOf('|', b1 + 1);
    const b3 = content.indexOf('|', b2 + 1);
    const st = steps[Number(content.slice(b1 + 1, b2))];
    const k = Number(content.slice(b2 + 1, b3));
    if (st && k >= 0 && k < st.count.length) {
      if (!(st.first[k]! <= t)) st.first[k] = t;
      if (!(st.last[k]! >= t)) st.last[k] = t;
      st.count[k]!++;
    }
    const bucket = Math.floor(t / 100);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
  }
  if (!cfg.receipts) return;
  (m.acks ??= ackBatcher(m)).add(messageId);
  if (cfg.readIntervalMs > 0) m.unread = messageId;
}

/** Each member that got something since its last read marks the chat read up to it: a read covers delivery, so its waiting acks go with it. */
function readAll(): void {
  for (const m of members) {
    if (m.unread === null || m.ws.readyState !== WebSocket.OPEN) continue;
    m.acks?.clear();
    m.ws.send(JSON.stringify({ type: 'ack_read', chat_id: cfg.chatId, last_read_message_id: m.unread }));
    m.unread = null;
    readFrames++;
  }
}

function connect(m: Member, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    m.ws = ws;
    const timer = setTimeout(() => {
      reject(new Error(`no sync_complete within ${cfg.connectTimeoutMs} ms`));
      ws.terminate();
    }, cfg.connectTimeoutMs);
    let synced = false;
    ws.on('message', (data) => {
      const raw = data.toString();
      if (!synced) {
        if (raw.includes('"type":"sync_complete"')) {
          synced = true;
          clearTimeout(timer);
          resolve();
        }
        return;
      }
      onFrame(m, raw);
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      if (!synced) reject(err);
    });
    ws.on('close', (code) => {
      if (!closing) {
        closedEarly++;
        errors[`close_${code}`] = (errors[`close_${code}`] ?? 0) + 1;
      }
    });
  });
}

function endStepStats(): void {
  const st = steps[currentStep];
  if (st) {
    st.loopP99 = eld.percentile(99) / 1e6;
    st.loopMax = eld.max / 1e6;
  }
  eld.reset();
}

parentPort!.on('message', async (msg: In) => {
  if (msg.t === 'init') {
    cfg = msg;
    steps = msg.counts.map((n) => ({
      first: new Float64Array(n).fill(NaN),
      last: new Float64Array(n).fill(NaN),
      count: new Int32Array(n),
      loopP99: NaN,
      loopMax: NaN,
    }));
    const t0 = now();
    try {
      for (let i = 0; i < msg.urls.length; i += 50) {
        const slice = msg.urls.slice(i, i + 50);
        const ms = slice.map(() => new Member());
        members.push(...ms);
        await Promise.all(ms.map((m, j) => connect(m, slice[j]!)));
      }
    } catch (err) {
      send({ t: 'failed', index: msg.index, message: String((err as Error)?.message ?? err) });
      return;
    }
    eld.enable();
    if (cfg.receipts && cfg.readIntervalMs > 0) setInterval(readAll, cfg.readIntervalMs).unref();
    setInterval(() => send({ t: 'progress', index: cfg.index, received }), 100).unref();
    send({ t: 'ready', index: msg.index, seconds: (now() - t0) / 1000 });
  } else if (msg.t === 'step') {
    endStepStats();
    currentStep = msg.step;
  } else if (msg.t === 'report') {
    endStepStats();
    currentStep = -1;
    send({
      t: 'report',
      index: cfg.index,
      steps: steps.map((s) => ({ first: s.first, last: s.last, count: s.count, loopP99: s.loopP99, loopMax: s.loopMax })),
      buckets: [...buckets],
      received,
      duplicates,
      outOfOrder,
      ackFrames,
      ackIds,
      readFrames,
      errors,
      closedEarly,
    });
  } else if (msg.t === 'close') {
    closing = true;
    for (const m of members) {
      m.acks?.clear();
      m.ws.close(1000);
    }
    setTimeout(() => process.exit(0), 300);
  }
});
