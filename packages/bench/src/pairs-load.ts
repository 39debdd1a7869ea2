import { OPEN, openWire, type Transport, type Wire } from './wire.js';
import { Samples } from './stats.js';

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
  /** false: receivers send no ack_delivered / ack_read (to measure what receipts cost). */
  receipts: boolean;
  drainMs: number;
  runId: string;
  connectTimeoutMs: number;
  localAddress?: string;
  /** How the sockets connect (default ws; socket.io for its reference relay). */
  transport?: Transport;
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
  ackReadFrames: number;
  closedEarly: number;
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

class Client {
  ws!: Wire;
  partner!: Client;
  pendingDelivered: string[] = [];
  flushQueued = false;
  latestId: string | null = null;
  latestReadSent: string | null = null;
  lastSeq = -1;
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

export function createGenerator(cfg: GeneratorConfig, emit: (e: GeneratorEvent) => void): Generator {
  const clients = cfg.clients.map((s, i) => new Client(s, i));
  for (let j = 0; j + 1 < clients.length; j += 2) {
    (clients[j] as Client).partner = clients[j + 1] as Client;
    (clients[j + 1] as Client).partner = clients[j] as Client;
  }
  const share = clients.length / cfg.totalSenders;
  const steps = cfg.steps.map((s) => ({
    spec: s,
    localRate: s.rate * share,
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
    ackReadFrames: 0,
    closedEarly: 0,
  };
  let current = -1; // index of the step whose window we are in
  let stopped = false;
  let closing = false;
  const padding = 'x'.repeat(Math.max(0, cfg.contentBytes));

  function flushDelivered(c: Client): void {
    c.flushQueued = false;
    const ids = c.pendingDelivered;
    if (ids.length === 0 || c.ws.readyState !== OPEN) return;
    c.pendingDelivered = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const batch = ids.slice(i, i + 1000);
      c.ws.send(JSON.stringify({ type: 'ack_delivered', message_ids: batch }));
      totals.ackDeliveredFrames++;
      totals.ackDeliveredIds += batch.length;
    }
  }

  function onFrame(c: Client, data: { toString(): string }): void {
    const t = now();
    let f: any;
    try {
      f = JSON.parse(data.toString());
    } catch {
      totals.errors.bad_json = (totals.errors.bad_json ?? 0) + 1;
      return;
    }
    switch (f.type) {
      case 'new_message': {
        if (f.seq <= c.lastSeq) {
          // seq only grows within a chat (both partners' messages share it), so this is a re-delivery.
          totals.duplicates++;
          if (typeof f.message_id === 'string') c.pendingDelivered.push(f.message_id);
        } else {
          c.lastSeq = f.seq;
          totals.received++;
          const content: string = f.content;
          const bar = content.indexOf('|');
          const bar2 = content.indexOf('|', bar + 1);
          const sched = Number(content.slice(0, bar));
          const stepIdx = Number(content.slice(bar + 1, bar2));
          const st = steps[stepIdx];
          if (st) st.latency.push(t - sched);
          const cur = steps[current];
          if (cur && t < cur.end) {
            cur.recvInWindow++;
            const gap = t - Math.max(lastRecvAt, cur.start);
            if (gap > cur.maxRecvGap) cur.maxRecvGap = gap;
          }
          lastRecvAt = t;
          c.pendingDelivered.push(f.message_id);
          c.latestId = f.message_id;
        }
        if (!c.flushQueued && cfg.receipts) {
          c.flushQueued = true;
          // One ack_delivered per socket per event-loop turn, covering everything read in it.
          setImmediate(flushDelivered, c);
        }
        return;
      }
      case 'ack_sent': {
        totals.acked++;
        // client_msg_id = runId.step.scheduledEpochMs.k
        const parts = String(f.client_msg_id).split('.');
        const st = steps[Number(parts[1])];
        if (st) st.ack.push(t - Number(parts[2]));
        return;
      }
      case 'status_update':
        if (f.status === 'read') totals.statusRead++;
        else totals.statusDelivered++;
        return;
      case 'error': {
        const code = String(f.code);
        totals.errors[code] = (totals.errors[code] ?? 0) + 1;
        if (f.client_msg_id) totals.errorCount++;
        return;
      }
      default:
        return;
    }
  }

  function connect(c: Client): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = openWire(cfg.transport ?? 'ws', c.spec.url, cfg.localAddress);
      c.ws = ws;
      const timer = setTimeout(() => {
        reject(new Error(`socket ${c.index}: no sync_complete within ${cfg.connectTimeoutMs} ms`));
        ws.terminate();
      }, cfg.connectTimeoutMs);
      let synced = false;
      ws.on('message', (data) => {
        if (!synced) {
          try {
            if (JSON.parse(data.toString()).type === 'sync_complete') {
              synced = true;
              clearTimeout(timer);
              resolve();
            }
          } catch {
            /* ignore */
          }
          return;
        }
        onFrame(c, data);
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        if (!synced) reject(err);
      });
      ws.on('close', (code) => {
        if (!closing) {
          totals.closedEarly++;
          totals.errors[`close_${code}`] = (totals.errors[`close_${code}`] ?? 0) + 1;
        }
      });
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
    // Planned step windows.
    let t = cfg.startAt;
    for (const st of steps) {
      st.start = t;
      t += st.spec.seconds * 1000;
      st.end = t;
    }
    const readTimer = setInterval(() => {
      if (!cfg.receipts) return;
      for (const c of clients) {
        if (c.latestId !== null && c.latestId !== c.latestReadSent && c.ws.readyState === OPEN) {
          c.ws.send(JSON.stringify({ type: 'ack_read', chat_id: c.spec.chatId, last_read_message_id: c.latestId }));
          c.latestReadSent = c.latestId;
          totals.ackReadFrames++;
        }
      }
    }, cfg.readIntervalMs);
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
        if (current >= steps.length) return resolve();
        const st = steps[current]!;
        if (tNow >= st.start) {
          const interval = 1000 / st.localRate;
          const due = Math.min(st.count, Math.floor((tNow - st.start) / interval) + 1);
          while (k < due) {
            const sched = st.start + k * interval;
            const c = clients[rr % n]!;
            rr++;
            if (c.ws.readyState === OPEN) {
              c.ws.send(
                JSON.stringify({
                  type: 'send_message',
                  chat_id: c.spec.chatId,
                  client_msg_id: `${cfg.runId}.${current}.${sched.toFixed(3)}.${k}`,
                  content: `${sched.toFixed(3)}|${current}|${padding}`,
                }),
              );
              st.sent++;
              totals.sent++;
            }
            k++;
          }
          const lag = tNow - (st.start + (k - 1) * interval);
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
        setTimeout(pump, 1);
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
    clearInterval(readTimer);
    const drainedAt = now();
    closing = true;
    for (const c of clients) c.ws.close(1000);
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
      ackReadFrames: totals.ackReadFrames,
      closedEarly: totals.closedEarly,
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
