import { ACK_SENT, ERROR, FrameScanner, NEW_MESSAGE, OTHER, STATUS_UPDATE, SYNC_COMPLETE, UNKNOWN } from './frame-scan.js';
import { dialectOf, inDialect, OPEN, Wire, type Transport } from './wire.js';
import { ioCounts } from './raw-ws.js';
import { Samples } from './stats.js';
import { ACK_WINDOW_MS } from '@switchboard/client';

/*
 * The load generator of the `pairs` scenario. It runs in a worker thread (default), in a
 * child process, or inline in the coordinator's thread (--gen inline), and holds both
 * sockets of each of its pairs, so send and receive times are read from one clock.
 *
 * Open loop: message k of a step is due at stepStart + k / rate whatever the server
 * answers, and latency is measured from that scheduled time, not from when the frame was
 * actually written. A stall in the server (or in this generator) therefore shows up as
 * latency instead of silently lowering the offered rate (no coordinated omission).
 */

export interface PairsClientSpec {
  url: string;
  userId: string;
  chatId: string;
}

export interface StepSpec {
  rate: number; // aggregate msg/s over all generators
  seconds: number;
  label: string; // "warmup" or the step number
}

export interface GeneratorConfig {
  genIndex: number;
  /** The sockets of this generator; clients[2j] and clients[2j+1] are partners. */
  clients: PairsClientSpec[];
  /** Senders over all generators, to take this generator's share of each step's rate. */
  totalSenders: number;
  steps: StepSpec[];
  /** Epoch ms at which step 0 starts (the same for every generator). */
  startAt: number;
  contentBytes: number;
  readIntervalMs: number;
  /** A due receipt waits at most this long (and one send interval of its socket) for a send to share a write with. */
  receiptGraceMs: number;
  /** Partners send half a round apart, not one right after the other (PairsOptions.partnersApart). */
  partnersApart: boolean;
  /** false: receivers send no ack_delivered / ack_read (to measure what receipts cost). */
  receipts: boolean;
  /**
   * Model the SDK's socket against Switchboard (transport ws only; never for the relays,
   * which speak one frame per message): sockets opened with ?batch=1, a socket's frames of
   * one callback sent as one JSON array, and arrays received split into their frames.
   * Default false: one frame per WebSocket message. (Reads in place of the delivery acks they
   * cover are the same either way: see the receipts comment above createGenerator.)
   */
  batch?: boolean;
  drainMs: number;
  runId: string;
  connectTimeoutMs: number;
  localAddress?: string;
  /** How the sockets connect (default ws; socket.io for its reference relay). */
  transport?: Transport;
  /** Messages a socket sends at one scheduled instant (default 1); see `burst` in createGenerator. */
  burst?: number;
  /** Poll instead of sleeping while the steps run (see `spin` in createGenerator). */
  spin?: boolean;
}

export interface StepResult {
  label: string;
  rate: number;
  /** When the step actually ran (epoch ms); end is earlier than planned when stopped. */
  start: number;
  end: number;
  sent: number;
  /** new_message frames (first copies) that arrived while the step ran, whatever step they belong to. */
  recvInWindow: number;
  /** Send-to-receive latency (ms from scheduled time) of this step's messages. */
  latency: Float64Array;
  /** ack_sent latency (ms from scheduled time) of this step's messages. */
  ackLatency: Float64Array;
  /** Largest delay between a send's scheduled time and the moment this generator wrote it. */
  maxSendLag: number;
  /** Longest time in the step's window with no new_message arriving on any socket of this generator (ms). */
  maxRecvGap: number;
}

export interface GeneratorResult {
  genIndex: number;
  steps: StepResult[];
  sent: number;
  received: number;
  acked: number;
  duplicates: number;
  errors: Record<string, number>;
  statusDelivered: number;
  statusRead: number;
  ackDeliveredFrames: number;
  ackDeliveredIds: number;
  /**
   * Ids acknowledged by an ack_read instead of an ack_delivered (a read covers delivery): those
   * that waited for their ack_delivered window when a read went, and the messages whose
   * arrival sent the read.
   */
  ackFoldedIds: number;
  ackReadFrames: number;
  closedEarly: number;
  /** Frames the byte scanner could not read (another key order or spacing), parsed the slow way instead. */
  slowFrames: number;
  /** Socket writes (each carries every frame due on the socket in one callback) and reads, from the first step. */
  socketWrites: number;
  socketReads: number;
  /** WebSocket data messages the generator's sockets sent and received, from the first step (with `batch`, an array counts once). */
  wsMessagesOut: number;
  wsMessagesIn: number;
  drained: boolean;
  /** Epoch ms when the drain ended (before the sockets were closed): the end of the generator's CPU window. */
  drainedAt: number;
}

export type GeneratorEvent =
  | { t: 'ready'; genIndex: number }
  | { t: 'progress'; genIndex: number; step: number; sent: number; received: number; acked: number; errors: number; at: number }
  | { t: 'done'; result: GeneratorResult }
  | { t: 'failed'; genIndex: number; message: string };

const now = () => performance.timeOrigin + performance.now();
/**
 * The scheduler's tick (ms): every send due by then goes out, one write per socket. With
 * `spin` the scheduler runs every event-loop turn instead (setImmediate), so the thread never
 * blocks in epoll while the steps run: it burns the core it runs on, but neither the
 * server's writes nor its own timer ever have to wake it. On a VM a wake-up is dear (a vCPU
 * that halted costs an exit to the hypervisor, tens of µs of CPU on each side: the
 * `machine:` line), and a server's write that wakes the generator pays part of it.
 */
const TICK_MS = 1;

class Client {
  wire!: Wire;
  partner!: Client;
  synced = false;
  onSynced: (() => void) | null = null;
  lastSeq = -1;
  /** The ack_delivered being gathered: `"id","id",` in the wire's dialect. */
  ackBuf = Buffer.allocUnsafe(1024);
  ackLen = 0;
  ackCount = 0;
  ackQueued = false;
  /** When this socket last sent an ack_delivered: like the SDK, at most one per ACK_WINDOW_MS. */
  ackAt = -Infinity;
  /** The latest message_id received (bytes) and how many first copies arrived, for ack_read. */
  lastId = Buffer.allocUnsafe(64);
  lastIdLen = 0;
  received = 0;
  readAt = 0;
  /** When this socket last sent an ack_read (ms). */
  readSentAt = 0;
  /** A read went due as a message arrived; it leaves at the end of this callback (flushReadsNow). */
  readNow = false;
  /** Templates in the wire's dialect, up to the first field that changes. */
  sendPre = '';
  readPre = '';
  constructor(
    readonly spec: PairsClientSpec,
    readonly index: number,
  ) {}
}

export interface Generator {
  /** Resolves once every socket is connected and has seen sync_complete. */
  ready: Promise<void>;
  /** Runs the steps (from cfg.startAt), drains, closes the sockets and returns the figures. */
  run(): Promise<GeneratorResult>;
  /** Stops sending at once (the coordinator saw the server saturate); run() then drains. */
  stop(): void;
}

/*
 * Receipts, as the SDK sends them: each received message's id is queued for ack_delivered,
 * sent at once (next turn) after a quiet spell, else at most one frame per ACK_WINDOW_MS per
 * socket; every cfg.readIntervalMs at most, an ack_read of the chat up to the latest message
 * carries the ids still waiting (a read covers delivery). A read due when a message arrives
 * goes at the end of that callback instead of the ack_delivered of what it read, as an app
 * that reads what it shows (SDK markRead), whatever the system (the relays ignore receipts,
 * but they get the same frames). Receipts that are due wait up to `grace` for their
 * socket's next send to share its write (and, with cfg.batch, its WebSocket message).
 *
 * The hot path is lean so that the generator measures the server, not itself: frames are
 * sent as prebuilt template strings with the changing fields spliced in, received frames
 * are read by byte search (frame-scan.ts) for the fields needed and never decoded or
 * parsed whole, ack_delivered ids are copied as bytes into a per-socket buffer, and one
 * setImmediate per event-loop turn flushes every socket's batch. What is left is mostly
 * system calls, so writes are few: one timer tick (TICK_MS) sends every message due, the
 * wire (raw-ws.ts) writes each socket's frames of one callback together (with cfg.batch as
 * one WebSocket message, an array; a received array is split by a string-aware byte scan,
 * wire.ts splitArray), and receipts due on a socket go with its next send when one comes
 * soon enough (`grace`).
 *
 * client_msg_id = runId.step.k; a message's scheduled time is steps[step].start +
 * k × interval, so ack_sent and new_message need only that one field for latency (both
 * sockets of a pair live in the same generator, which knows its own schedule).
 */
export function createGenerator(cfg: GeneratorConfig, emit: (e: GeneratorEvent) => void): Generator {
  const transport = cfg.transport ?? 'ws';
  // ?batch=1 is Switchboard's, on its plain WebSocket.
  const batch = cfg.batch === true && transport === 'ws';
  const clients = cfg.clients.map((s, i) => new Client(s, i));
  for (let j = 0; j + 1 < clients.length; j += 2) {
    (clients[j] as Client).partner = clients[j + 1] as Client;
    (clients[j + 1] as Client).partner = clients[j] as Client;
  }
  /*
   * burst: the open-loop schedule gives a socket `burst` messages at once, every burst × n
   * intervals, instead of one every n intervals (n = sockets; the aggregate rate and each
   * socket's rate are unchanged, and latency still counts from the scheduled instant). The
   * server then reads a socket's frames `burst` at a time and the generator reads their
   * ack_sent together: fewer system calls and wake-ups per message on both sides.
   */
  const burst = Math.max(1, Math.floor(cfg.burst ?? 1));
  /** The scheduled index of message k of a step: a burst shares the time of its first message. */
  const schedK = (k: number) => k - (k % burst);
  const share = clients.length / cfg.totalSenders;
  const steps = cfg.steps.map((s) => ({
    spec: s,
    localRate: s.rate * share,
    interval: 1000 / (s.rate * share),
    count: Math.floor(s.rate * share * s.seconds),
    start: 0,
    end: 0,
    sent: 0,
    recvInWindow: 0,
    latency: new Samples(),
    ack: new Samples(),
    maxSendLag: 0,
    maxRecvGap: 0,
  }));
  let lastRecvAt = 0;
  const totals = {
    sent: 0,
    received: 0,
    acked: 0,
    duplicates: 0,
    errors: {} as Record<string, number>,
    errorCount: 0,
    statusDelivered: 0,
    statusRead: 0,
    ackDeliveredFrames: 0,
    ackDeliveredIds: 0,
    ackFoldedIds: 0,
    ackReadFrames: 0,
    closedEarly: 0,
    slowFrames: 0,
  };
  const countError = (code: string) => (totals.errors[code] = (totals.errors[code] ?? 0) + 1);
  let current = -1; // index of the step whose window we are in
  let stopped = false;
  let closing = false;

  // Every socket of a generator uses one transport, so one dialect and one scanner.
  const dialect = dialectOf(transport);
  const scan = new FrameScanner(dialect);
  // Frames that did not have the expected shape are re-encoded as plain JSON, type first, and read again.
  const plain = dialect.pre === '' ? scan : new FrameScanner(dialectOf('ws'));
  const kSeq = scan.key('seq');
  const kMessageId = scan.key('message_id');
  const kCmid = scan.key('client_msg_id');
  const kStatus = scan.key('status');
  const qBytes = Buffer.from(dialect.q);
  const runIdLen = Buffer.byteLength(cfg.runId);
  const tpl = (text: string) => inDialect(dialect, text);
  const padding = 'x'.repeat(Math.max(0, cfg.contentBytes));
  const sendMid = tpl('","content":"');
  const sendPost = tpl(`|${padding}"}`) + dialect.post;
  const ackPre = dialect.pre + tpl('{"type":"ack_delivered","message_ids":[');
  const ackPost = tpl(']}') + dialect.post;
  const readPost = tpl('"}') + dialect.post;
  for (const c of clients) {
    c.sendPre = dialect.pre + tpl(`{"type":"send_message","chat_id":"${c.spec.chatId}","client_msg_id":"${cfg.runId}.`);
    c.readPre = dialect.pre + tpl(`{"type":"ack_read","chat_id":"${c.spec.chatId}","last_read_message_id":"`);
  }

  // Sockets with ack_delivered ids gathered in this event-loop turn.
  const ackQueue: Client[] = [];
  let ackFlushQueued = false;

  function flushAcks(c: Client): void {
    if (c.ackCount > 0 && c.wire.readyState === OPEN) {
      // ackLen - 1: without the trailing comma.
      c.wire.send(ackPre + c.ackBuf.toString('latin1', 0, c.ackLen - 1) + ackPost);
      c.ackAt = now();
      totals.ackDeliveredFrames++;
      totals.ackDeliveredIds += c.ackCount;
    }
    c.ackLen = 0;
    c.ackCount = 0;
  }

  function flushAllAcks(): void {
    ackFlushQueued = false;
    for (let i = 0; i < ackQueue.length; i++) {
      const c = ackQueue[i]!;
      c.ackQueued = false;
      flushAcks(c);
    }
    ackQueue.length = 0;
  }

  /*
   * Receipts whose time has come wait up to `grace` ms for their socket's next send, so
   * that they go out in the same write (each write is a system call that also wakes the
   * server: most of the generator's cost). grace is the step's interval between two sends
   * of one socket, at most cfg.receiptGraceMs (50), and 0 between steps; in steady state
   * every socket sends within it. The server sees the same frames, a few ms later.
   */
  let grace = 0;

  // Sockets whose ack_delivered waits for the end of their window (flushDueAcks).
  let heldAcks: Client[] = [];
  function flushDueAcks(t: number): void {
    if (heldAcks.length === 0) return;
    const still: Client[] = [];
    for (const c of heldAcks) {
      if (!c.ackQueued) continue; // went out with a send
      if (t - c.ackAt < ACK_WINDOW_MS + grace) still.push(c);
      else {
        c.ackQueued = false;
        flushAcks(c);
      }
    }
    heldAcks = still;
  }

  /** The ack_read of c's chat, carrying the ids that wait for their ack_delivered window. */
  function sendRead(c: Client, t: number): void {
    // A read covers delivery too (guarantee 6): the ids waiting for their window go with it, as the SDK's batch.
    totals.ackFoldedIds += c.ackCount;
    c.ackLen = 0;
    c.ackCount = 0;
    c.wire.send(c.readPre + c.lastId.toString('latin1', 0, c.lastIdLen) + readPost);
    c.readAt = c.received;
    c.readSentAt = t;
    totals.ackReadFrames++;
  }

  /*
   * Reads that went due as messages arrived leave at the end of the callback that
   * read them (a microtask, queued before the wire's write of that callback when the read
   * is the callback's first frame out), so one read covers every message of an array.
   */
  const readsNow: Client[] = [];
  let readsNowQueued = false;
  function readAtEndOfCallback(c: Client): void {
    c.readNow = true;
    readsNow.push(c);
    if (!readsNowQueued) {
      readsNowQueued = true;
      queueMicrotask(flushReadsNow);
    }
  }
  function flushReadsNow(): void {
    readsNowQueued = false;
    const t = now();
    for (let i = 0; i < readsNow.length; i++) {
      const c = readsNow[i]!;
      c.readNow = false;
      if (c.wire.readyState === OPEN) sendRead(c, t);
    }
    readsNow.length = 0;
  }

  /** Receipts due on c, which is about to send: they go in the same write. */
  function receiptsWithSend(c: Client, t: number): void {
    if (!cfg.receipts) return;
    if (c.received !== c.readAt && t - c.readSentAt >= cfg.readIntervalMs) sendRead(c, t);
    else if (c.ackQueued && c.ackCount > 0 && t - c.ackAt >= ACK_WINDOW_MS) {
      c.ackQueued = false;
      flushAcks(c);
    }
  }

  /** Receipts that waited their grace for a send: they go alone. */
  function receiptsDue(t: number): void {
    if (!cfg.receipts) return;
    flushDueAcks(t);
    for (const c of clients)
      if (c.received !== c.readAt && t - c.readSentAt >= cfg.readIntervalMs + grace && c.wire.readyState === OPEN) sendRead(c, t);
  }

  /**
   * Adds buf[s..e) (a message_id) to c's ack_delivered, as the SDK batches them: at once
   * (next turn) after a quiet spell, else at most one frame per ACK_WINDOW_MS; at most
   * 1,000 ids a frame.
   */
  function queueAck(c: Client, buf: Buffer, s: number, e: number): void {
    const q = qBytes.length;
    const need = e - s + 2 * q + 1;
    if (c.ackLen + need > c.ackBuf.length) {
      const next = Buffer.allocUnsafe(Math.max(c.ackBuf.length * 2, c.ackLen + need));
      c.ackBuf.copy(next, 0, 0, c.ackLen);
      c.ackBuf = next;
    }
    const b = c.ackBuf;
    let o = c.ackLen;
    for (let i = 0; i < q; i++) b[o++] = qBytes[i]!;
    for (let i = s; i < e; i++) b[o++] = buf[i]!;
    for (let i = 0; i < q; i++) b[o++] = qBytes[i]!;
    b[o++] = 0x2c; // ,
    c.ackLen = o;
    if (++c.ackCount >= 1000) flushAcks(c);
    if (!c.ackQueued) {
      c.ackQueued = true;
      if (now() - c.ackAt < ACK_WINDOW_MS) {
        heldAcks.push(c);
        return;
      }
      ackQueue.push(c);
      if (!ackFlushQueued) {
        ackFlushQueued = true;
        setImmediate(flushAllAcks);
      }
    }
  }

  /** The step of the client_msg_id starting at buf[s] (runId.step.k), with k in kOut; -1 when it is not ours. */
  let kOut = 0;
  function stepOf(sc: FrameScanner, buf: Buffer, s: number): number {
    const dot = s + runIdLen;
    if (buf[dot] !== 0x2e) return -1;
    const step = sc.digits(buf, dot + 1);
    if (step < 0 || buf[sc.end] !== 0x2e) return -1;
    kOut = sc.digits(buf, sc.end + 1);
    return kOut < 0 ? -1 : step;
  }

  function onNewMessage(c: Client, buf: Buffer, start: number, sc: FrameScanner, t: number): boolean {
    const seq = sc.int(buf, kSeqOf(sc), start);
    const ids = sc.str(buf, kMessageIdOf(sc), start);
    const ide = sc.end;
    if (seq < 0 || ids < 0) return false;
    if (seq <= c.lastSeq) {
      // seq only grows within a chat (both partners' messages share it), so this is a re-delivery.
      totals.duplicates++;
    } else {
      c.lastSeq = seq;
      totals.received++;
      const cs = sc.str(buf, kCmidOf(sc), start);
      const stepIdx = cs < 0 ? -1 : stepOf(sc, buf, cs);
      const st = steps[stepIdx];
      if (st) st.latency.push(t - (st.start + schedK(kOut) * st.interval));
      const cur = steps[current];
      if (cur && t < cur.end) {
        cur.recvInWindow++;
        const gap = t - Math.max(lastRecvAt, cur.start);
        if (gap > cur.maxRecvGap) cur.maxRecvGap = gap;
      }
      lastRecvAt = t;
      const n = ide - ids;
      if (n > c.lastId.length) c.lastId = Buffer.allocUnsafe(n * 2);
      for (let i = 0; i < n; i++) c.lastId[i] = buf[ids + i]!;
      c.lastIdLen = n;
      c.received++;
    }
    if (!cfg.receipts) return true;
    if (c.readNow || (c.received !== c.readAt && t - c.readSentAt >= cfg.readIntervalMs)) {
      // The read is due: it covers this message (a duplicate too: the latest id's seq is at
      // least its) in place of its ack_delivered, as the SDK's markRead does. Against the
      // relays too, so that every system gets the same receipts.
      totals.ackFoldedIds++;
      if (!c.readNow) readAtEndOfCallback(c);
    } else queueAck(c, buf, ids, ide);
    return true;
  }

  // The plain scanner (slow path) has its own key patterns.
  const kSeqOf = (sc: FrameScanner) => (sc === scan ? kSeq : sc.key('seq'));
  const kMessageIdOf = (sc: FrameScanner) => (sc === scan ? kMessageId : sc.key('message_id'));
  const kCmidOf = (sc: FrameScanner) => (sc === scan ? kCmid : sc.key('client_msg_id'));

  /** Reads one frame; false when its shape was not what the scanner expects. */
  function dispatch(c: Client, buf: Buffer, start: number, sc: FrameScanner, t: number): boolean {
    switch (sc.type(buf, start)) {
      case NEW_MESSAGE:
        return onNewMessage(c, buf, start, sc, t);
      case ACK_SENT: {
        const cs = sc.str(buf, kCmidOf(sc), start);
        if (cs < 0) return false;
        totals.acked++;
        const st = steps[stepOf(sc, buf, cs)];
        if (st) st.ack.push(t - (st.start + schedK(kOut) * st.interval));
        return true;
      }
      case STATUS_UPDATE: {
        const s = sc.str(buf, sc === scan ? kStatus : sc.key('status'), start);
        if (s < 0) return false;
        if (buf[s] === 0x72 /* r */) totals.statusRead++;
        else totals.statusDelivered++;
        return true;
      }
      case ERROR: {
        const f = parse(buf, start, sc);
        if (!f) return true;
        countError(String(f.code));
        if (f.client_msg_id) totals.errorCount++;
        return true;
      }
      case UNKNOWN:
        return false;
      default:
        return true; // a frame the generator does not need (sync_complete again, presence, ...)
    }
  }

  function parse(buf: Buffer, start: number, sc: FrameScanner): Record<string, unknown> | null {
    try {
      const f = sc.parse(buf, start);
      return f && typeof f === 'object' ? f : null;
    } catch {
      countError('bad_json');
      return null;
    }
  }

  function onFrame(c: Client, buf: Buffer, start: number): void {
    const t = now();
    if (!c.synced) {
      let ty = scan.type(buf, start);
      if (ty === UNKNOWN) ty = parse(buf, start, scan)?.type === 'sync_complete' ? SYNC_COMPLETE : OTHER;
      if (ty === SYNC_COMPLETE) {
        c.synced = true;
        c.onSynced?.();
      }
      return;
    }
    if (dispatch(c, buf, start, scan, t)) return;
    // Slow path: another key order, spacing or escaping. Re-encode it plainly, type first.
    totals.slowFrames++;
    const f = parse(buf, start, scan);
    if (!f) return;
    if (typeof f.type !== 'string' || !dispatch(c, Buffer.from(JSON.stringify({ type: f.type, ...f })), 0, plain, t))
      countError('unreadable_frame');
  }

  function connect(c: Client): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`socket ${c.index}: no sync_complete within ${cfg.connectTimeoutMs} ms`));
        c.wire.terminate();
      }, cfg.connectTimeoutMs);
      c.onSynced = () => {
        clearTimeout(timer);
        resolve();
      };
      c.wire = new Wire(
        transport,
        c.spec.url,
        {
          frame: (buf, start) => onFrame(c, buf, start),
          error: (err) => {
            clearTimeout(timer);
            if (!c.synced) reject(err);
          },
          close: (code) => {
            if (!closing) {
              totals.closedEarly++;
              countError(`close_${code}`);
            }
          },
        },
        cfg.localAddress,
        batch,
      );
    });
  }

  const ready = (async () => {
    const batch = 50;
    for (let i = 0; i < clients.length; i += batch) await Promise.all(clients.slice(i, i + batch).map(connect));
  })();
  ready.then(
    () => emit({ t: 'ready', genIndex: cfg.genIndex }),
    (err) => emit({ t: 'failed', genIndex: cfg.genIndex, message: String(err?.message ?? err) }),
  );

  async function run(): Promise<GeneratorResult> {
    await ready;
    const io0 = { ...ioCounts };
    // Planned step windows.
    let t = cfg.startAt;
    for (const st of steps) {
      st.start = t;
      t += st.spec.seconds * 1000;
      st.end = t;
    }
    // Receipts that found no send to go with, every 5 ms until the sockets close.
    const receiptTimer = setInterval(() => receiptsDue(now()), 5);
    const n = clients.length;
    let k = 0; // index within the current step
    let rr = cfg.genIndex; // round-robin over senders
    let lastProgress = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        const tNow = now();
        if (stopped) {
          const st = steps[current];
          if (st && tNow < st.end) st.end = tNow;
          for (let i = current + 1; i < steps.length; i++) {
            const s = steps[i]!;
            s.start = s.end = tNow;
          }
          return resolve();
        }
        while (current < steps.length) {
          if (current < 0 || (tNow >= steps[current]!.end && k >= steps[current]!.count)) {
            current++;
            k = 0;
            continue;
          }
          break;
        }
        if (current >= steps.length) {
          grace = 0;
          return resolve();
        }
        const st = steps[current]!;
        if (tNow >= st.start) {
          const interval = st.interval;
          grace = tNow < st.end ? Math.min(cfg.receiptGraceMs, interval * n * burst) : 0;
          // The whole burst of the latest message due.
          const due = Math.min(st.count, Math.ceil((Math.floor((tNow - st.start) / interval) + 1) / burst) * burst);
          while (k < due) {
            // Round-robin over the sockets, partners next to each other: they send within a
            // millisecond of each other, every time (with the users on two nodes, both nodes
            // want the chat's row at once). --partners-apart: every pair's first users (even
            // sockets) and then their partners, half a round later. In alternated cluster runs
            // (issue 23, 2026-12-07) the p99 was no better apart, so the default stays.
            const r = rr % n;
            const c = clients[cfg.partnersApart ? (r < n / 2 ? 2 * r : 2 * (r - n / 2) + 1) : r]!;
            if (k % burst === burst - 1) rr++;
            if (c.wire.readyState === OPEN) {
              receiptsWithSend(c, tNow);
              // client_msg_id runId.step.k; content step.k|padding (never empty, even with --size 0).
              const id = `${current}.${k}`;
              c.wire.send(c.sendPre + id + sendMid + id + sendPost);
              st.sent++;
              totals.sent++;
            }
            k++;
          }
          const lag = tNow - (st.start + schedK(k - 1) * interval);
          if (lag > st.maxSendLag) st.maxSendLag = lag;
        }
        if (tNow - lastProgress >= 250) {
          lastProgress = tNow;
          emit({
            t: 'progress',
            genIndex: cfg.genIndex,
            step: current,
            sent: totals.sent,
            received: totals.received,
            acked: totals.acked,
            errors: totals.errorCount,
            at: tNow,
          });
        }
        if (cfg.spin) setImmediate(pump);
        else setTimeout(pump, TICK_MS);
      };
      pump();
    });
    // Drain: wait for every sent message to arrive (or to have failed) and be acknowledged.
    const drainDeadline = now() + cfg.drainMs;
    let drained = false;
    while (now() < drainDeadline) {
      if (totals.received + totals.errorCount >= totals.sent && totals.acked + totals.errorCount >= totals.sent) {
        drained = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // Let the last read receipts go out and their status updates come back.
    await new Promise((r) => setTimeout(r, Math.max(250, cfg.readIntervalMs * 2)));
    clearInterval(receiptTimer);
    flushDueAcks(Infinity);
    const drainedAt = now();
    closing = true;
    for (const c of clients) c.wire.close(1000);
    return {
      genIndex: cfg.genIndex,
      steps: steps.map((s) => ({
        label: s.spec.label,
        rate: s.spec.rate,
        start: s.start,
        end: s.end,
        sent: s.sent,
        recvInWindow: s.recvInWindow,
        latency: s.latency.toArray(),
        ackLatency: s.ack.toArray(),
        maxSendLag: s.maxSendLag,
        maxRecvGap: s.maxRecvGap,
      })),
      sent: totals.sent,
      received: totals.received,
      acked: totals.acked,
      duplicates: totals.duplicates,
      errors: totals.errors,
      statusDelivered: totals.statusDelivered,
      statusRead: totals.statusRead,
      ackDeliveredFrames: totals.ackDeliveredFrames,
      ackDeliveredIds: totals.ackDeliveredIds,
      ackFoldedIds: totals.ackFoldedIds,
      ackReadFrames: totals.ackReadFrames,
      closedEarly: totals.closedEarly,
      slowFrames: totals.slowFrames,
      socketWrites: ioCounts.writes - io0.writes,
      socketReads: ioCounts.reads - io0.reads,
      wsMessagesOut: ioCounts.messagesOut - io0.messagesOut,
      wsMessagesIn: ioCounts.messagesIn - io0.messagesIn,
      drained,
      drainedAt,
    };
  }

  return {
    ready,
    run,
    stop: () => {
      stopped = true;
    },
  };
}
