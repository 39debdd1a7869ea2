import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { createUsers, runTag, socketUrl, type Session } from './api.js';
import type { MemberEvent, MemberInit, MemberStepReport } from './group-member.js';
import { readCpuMs, readRss, type Target } from './server.js';
import { fmtBytes, fmtInt, fmtMs, sleep, summarize, table, type Summary } from './stats.js';

/*
 * `group`: one group of M members (default 1,024, the protocol's maximum), every member
 * online with one socket. The creator sends to the group on an open-loop schedule at each
 * rate of --rates for --step-seconds; the bench waits until every member has every message
 * (or --drain expires) before the next rate. Member sockets live in --generators worker
 * threads and acknowledge delivery as the SDK does (AckBatcher: at once after a quiet spell,
 * then at most one ack_delivered per socket per 100 ms); with --read-interval they also
 * mark the chat read every so often (the ids waiting for their ack go with the read).
 * Per rate: time from the scheduled send until the FIRST and until the LAST member has each
 * message, fan-out deliveries/s, the creator's ack_sent latency, server CPU and RSS.
 * A warm-up at the first rate (--warmup-seconds) runs first and is shown, not judged: the
 * first second after start measures both processes compiling their hot paths (V8's
 * compiler threads then compete with them for the cores), not the fan-out.
 */

export interface GroupOptions {
  members: number;
  rates: number[];
  stepSeconds: number;
  contentBytes: number;
  generators: number;
  receipts: boolean;
  ackDelayMs: number;
  /** Members' ack_read every this many ms (0: none). */
  readIntervalMs: number;
  drainMs: number;
  pauseMs: number;
  /** Seconds of sending at the first rate before the judged rates (0: none). */
  warmupSeconds: number;
}

export interface GroupStepRow {
  rate: number;
  /** The warm-up step: shown, not judged. */
  warmup: boolean;
  seconds: number;
  sent: number;
  /** Messages every recipient got. */
  complete: number;
  /** Scheduled send -> last recipient has it, over the complete messages. */
  last: Summary;
  /** Scheduled send -> first recipient has it. */
  first: Summary;
  ack: Summary;
  /** Member deliveries (first copies) counted in the sending window, per second. */
  fanoutPerSec: number;
  /** Member deliveries of this step's messages / the time from the step's start until its last delivery. */
  fanoutSustained: number;
  /** From the last scheduled send until the last member had every message (ms). */
  drainedAfterMs: number;
  serverCpuPct: number;
  serverCpuDrainPct: number;
  genCpuPct: number;
  serverRss: number;
  maxSendLag: number;
  genLoopP99: number;
  genLoopMax: number;
  statusUpdates: number;
}

export interface GroupReport {
  scenario: 'group';
  options: GroupOptions;
  registration: { users: number; seconds: number };
  groupCreateMs: number;
  connectSeconds: number;
  recipients: number;
  steps: GroupStepRow[];
  stoppedEarly: string | null;
  totals: {
    received: number;
    duplicates: number;
    outOfOrder: number;
    ackFrames: number;
    ackIds: number;
    readFrames: number;
    statusUpdates: number;
    errors: Record<string, number>;
    closedEarly: number;
  };
  rssAfterConnect: number;
}

const now = () => performance.timeOrigin + performance.now();

async function createGroup(
  baseUrl: string,
  token: string,
  name: string,
  memberIds: string[],
): Promise<{ group_id: string; chat_id: string; members: unknown[] }> {
  const res = await fetch(`${baseUrl}/v1/groups`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ name, member_ids: memberIds }),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`POST /v1/groups: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

interface Sample {
  t: number;
  server: number;
  self: number;
  rss: number;
}

function cpuBetween(samples: Sample[], start: number, end: number, key: 'server' | 'self'): number {
  const inside = samples.filter((s) => s.t >= start - 20 && s.t <= end + 20);
  if (inside.length < 2) return NaN;
  const a = inside[0]!;
  const b = inside[inside.length - 1]!;
  return ((b[key] - a[key]) / (b.t - a.t)) * 100;
}

export async function runGroup(target: Target, opts: GroupOptions, log: (s: string) => void): Promise<GroupReport> {
  const M = opts.members;
  if (M < 2) throw new Error('--members must be at least 2');
  const tag = runTag();
  log(`group: registering ${M} users (one device each)...`);
  const t0 = performance.now();
  const sessions: Session[] = (
    await createUsers(target.baseUrl, {
      prefix: `bg${tag}`,
      count: M,
      concurrency: 16,
      onProgress: (d) => {
        if (process.stderr.isTTY) process.stderr.write(`\r  registered ${d} / ${M}   `);
      },
    })
  ).map((s) => s[0]!);
  if (process.stderr.isTTY) process.stderr.write('\n');
  const regSeconds = (performance.now() - t0) / 1000;
  log(`group: registered ${M} users + sessions in ${regSeconds.toFixed(1)} s`);

  const creator = sessions[0]!;
  const tg = performance.now();
  const group = await createGroup(
    target.baseUrl,
    creator.token,
    `bench ${tag}`,
    sessions.slice(1).map((s) => s.user_id),
  );
  const groupCreateMs = performance.now() - tg;
  log(
    `group: POST /v1/groups with ${M - 1} member ids took ${groupCreateMs.toFixed(0)} ms; ${group.members.length} members, chat ${group.chat_id}`,
  );

  const steps = opts.rates.map((rate) => ({ rate, count: Math.max(1, Math.floor(rate * opts.stepSeconds)), warmup: false }));
  const warmupCount = Math.floor(opts.rates[0]! * opts.warmupSeconds);
  if (warmupCount > 0) steps.unshift({ rate: opts.rates[0]!, count: warmupCount, warmup: true });
  const recipients = M - 1;

  // The creator's socket lives in this thread; the members' in worker threads.
  const ackAt = steps.map((s) => new Float64Array(s.count).fill(NaN));
  const statusPerStep = steps.map(() => 0);
  let statusTotal = 0;
  let currentStep = -1;
  const creatorErrors: Record<string, number> = {};
  const creatorWs = await new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(socketUrl(target.baseUrl, creator), { perMessageDeflate: false });
    let synced = false;
    const timer = setTimeout(() => reject(new Error('creator: no sync_complete')), 30_000);
    ws.on('message', (data) => {
      const t = now();
      const raw = data.toString();
      if (!synced) {
        if (raw.includes('"type":"sync_complete"')) {
          synced = true;
          clearTimeout(timer);
          resolve(ws);
        }
        return;
      }
      if (raw.includes('"type":"status_update"')) {
        statusTotal++;
        if (currentStep >= 0) statusPerStep[currentStep]!++;
        return;
      }
      let f: any;
      try {
        f = JSON.parse(raw);
      } catch {
        return;
      }
      if (f.type === 'ack_sent') {
        // client_msg_id = tag.step.k
        const parts = String(f.client_msg_id).split('.');
        const arr = ackAt[Number(parts[1])];
        const k = Number(parts[2]);
        if (arr && k >= 0 && k < arr.length) arr[k] = t;
      } else if (f.type === 'error') {
        creatorErrors[String(f.code)] = (creatorErrors[String(f.code)] ?? 0) + 1;
      }
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      if (!synced) reject(err);
    });
  });

  const G = Math.max(1, Math.min(opts.generators, recipients));
  const workers: Worker[] = [];
  const ready = new Set<number>();
  const progress = new Map<number, number>();
  const reports = new Map<number, Extract<MemberEvent, { t: 'report' }>>();
  let failure: string | null = null;
  const memberUrls = sessions.slice(1).map((s) => socketUrl(target.baseUrl, s));
  const tc = performance.now();
  for (let g = 0; g < G; g++) {
    const w = new Worker(new URL('./group-member.js', import.meta.url));
    workers.push(w);
    w.on('message', (e: MemberEvent) => {
      if (e.t === 'ready') ready.add(e.index);
      else if (e.t === 'progress') progress.set(e.index, e.received);
      else if (e.t === 'report') reports.set(e.index, e);
      else if (e.t === 'failed') failure = e.message;
    });
    w.on('error', (err) => (failure = String(err?.stack ?? err)));
    const init: MemberInit = {
      t: 'init',
      index: g,
      urls: memberUrls.filter((_, i) => i % G === g),
      chatId: group.chat_id,
      counts: steps.map((s) => s.count),
      receipts: opts.receipts,
      ackDelayMs: opts.ackDelayMs,
      readIntervalMs: opts.readIntervalMs,
      connectTimeoutMs: 60_000,
    };
    w.postMessage(init);
  }
  const waitFor = async (cond: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (failure) throw new Error(`member worker failed: ${failure}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const samples: Sample[] = [];
  const sample = () => {
    const u = process.cpuUsage();
    samples.push({ t: now(), server: readCpuMs(target.pid), self: (u.user + u.system) / 1000, rss: readRss(target.pid) });
  };
  const sampler = setInterval(sample, 200);
  try {
    await waitFor(() => ready.size === G, 120_000, 'member sockets to connect');
    const connectSeconds = (performance.now() - tc) / 1000;
    log(
      `group: ${recipients} member sockets + the creator's connected in ${connectSeconds.toFixed(1)} s (${G} worker thread${G > 1 ? 's' : ''})`,
    );
    await sleep(1000);
    const rssAfterConnect = readRss(target.pid);
    const padding = 'x'.repeat(Math.max(0, opts.contentBytes));
    const received = () => [...progress.values()].reduce((a, b) => a + b, 0);

    let stoppedEarly: string | null = null;
    const windows: { start: number; end: number; done: number; maxSendLag: number; sent: number }[] = [];
    for (let s = 0; s < steps.length; s++) {
      const st = steps[s]!;
      const before = received();
      const interval = 1000 / st.rate;
      const start = now() + 100;
      currentStep = s;
      for (const w of workers) w.postMessage({ t: 'step', step: s });
      let k = 0;
      let maxSendLag = 0;
      sample();
      await new Promise<void>((resolve) => {
        const pump = () => {
          const t = now();
          if (t >= start) {
            const due = Math.min(st.count, Math.floor((t - start) / interval) + 1);
            while (k < due) {
              const sched = start + k * interval;
              creatorWs.send(
                JSON.stringify({
                  type: 'send_message',
                  chat_id: group.chat_id,
                  client_msg_id: `${tag}.${s}.${k}`,
                  content: `${sched.toFixed(3)}|${s}|${k}|${padding}`,
                }),
              );
              k++;
            }
            const lag = t - (start + (k - 1) * interval);
            if (lag > maxSendLag) maxSendLag = lag;
          }
          if (k >= st.count) return resolve();
          setTimeout(pump, Math.max(0, Math.min(5, start + k * interval - now())));
        };
        pump();
      });
      const end = start + st.count * interval;
      await sleep(Math.max(0, end - now()));
      sample();
      const expected = before + st.count * recipients;
      const drainDeadline = Date.now() + opts.drainMs;
      while (received() < expected && Date.now() < drainDeadline) {
        if (failure) throw new Error(`member worker failed: ${failure}`);
        if (process.stderr.isTTY)
          process.stderr.write(`\r  rate ${st.rate}/s: deliveries ${fmtInt(received() - before)} / ${fmtInt(st.count * recipients)}     `);
        await sleep(50);
      }
      // Wait for the ack_sent of the step too.
      const ackDeadline = Date.now() + 5000;
      while (ackAt[s]!.some((x) => Number.isNaN(x)) && Date.now() < ackDeadline) await sleep(20);
      if (process.stderr.isTTY) process.stderr.write('\n');
      const done = now();
      sample();
      windows.push({ start, end, done, maxSendLag, sent: k });
      const got = received() - before;
      log(
        `group: ${st.warmup ? 'warm-up at ' : ''}rate ${st.rate}/s: ${k} messages sent in ${((end - start) / 1000).toFixed(1)} s; ${fmtInt(got)} of ${fmtInt(st.count * recipients)} member deliveries ${got >= st.count * recipients ? 'complete' : 'INCOMPLETE'} ${((done - end) / 1000).toFixed(2)} s after the last send`,
      );
      if (got < st.count * recipients && s + 1 < steps.length) {
        // The backlog would spill into the next rate and make its figures meaningless.
        stoppedEarly = `rate ${st.rate}/s did not drain within ${opts.drainMs / 1000} s (${fmtInt(st.count * recipients - got)} member deliveries outstanding); higher rates not run`;
        log(`group: ${stoppedEarly}`);
        break;
      }
      await sleep(opts.pauseMs);
    }
    currentStep = -1;
    for (const w of workers) w.postMessage({ t: 'report' });
    await waitFor(() => reports.size === G, 30_000, 'member reports');
    clearInterval(sampler);

    const buckets = new Map<number, number>();
    for (const r of reports.values()) for (const [b, n] of r.buckets) buckets.set(b, (buckets.get(b) ?? 0) + n);
    const deliveriesBetween = (a: number, b: number) => {
      let n = 0;
      for (const [bk, c] of buckets) {
        const t = bk * 100 + 50;
        if (t >= a && t < b) n += c;
      }
      return n;
    };

    const rows: GroupStepRow[] = [];
    for (let s = 0; s < windows.length; s++) {
      const st = steps[s]!;
      const w = windows[s]!;
      const per: MemberStepReport[] = [...reports.values()].map((r) => r.steps[s]!);
      const interval = 1000 / st.rate;
      const lastLat: number[] = [];
      const firstLat: number[] = [];
      const ackLat: number[] = [];
      let complete = 0;
      let lastArrival = w.start;
      for (let k = 0; k < w.sent; k++) {
        const sched = w.start + k * interval;
        let cnt = 0;
        let first = Infinity;
        let last = -Infinity;
        for (const p of per) {
          cnt += p.count[k]!;
          if (p.count[k]! > 0) {
            first = Math.min(first, p.first[k]!);
            last = Math.max(last, p.last[k]!);
          }
        }
        if (Number.isFinite(first)) firstLat.push(first - sched);
        if (Number.isFinite(last)) lastArrival = Math.max(lastArrival, last);
        if (cnt >= recipients) {
          complete++;
          lastLat.push(last - sched);
        }
        const a = ackAt[s]![k]!;
        if (Number.isFinite(a)) ackLat.push(a - sched);
      }
      const inWindow = samples.filter((x) => x.t >= w.start && x.t <= w.end + 50);
      const totalDeliveries = per.reduce((a, p) => a + p.count.reduce((x, y) => x + y, 0), 0);
      rows.push({
        rate: st.rate,
        warmup: st.warmup,
        seconds: (w.end - w.start) / 1000,
        sent: w.sent,
        complete,
        last: summarize(lastLat),
        first: summarize(firstLat),
        ack: summarize(ackLat),
        fanoutPerSec: deliveriesBetween(w.start, w.end) / ((w.end - w.start) / 1000),
        fanoutSustained: totalDeliveries / Math.max(0.001, (lastArrival - w.start) / 1000),
        drainedAfterMs: complete === w.sent ? lastArrival - (w.start + (w.sent - 1) * interval) : NaN,
        serverCpuPct: cpuBetween(samples, w.start, w.end, 'server'),
        serverCpuDrainPct: cpuBetween(samples, w.start, w.done, 'server'),
        genCpuPct: cpuBetween(samples, w.start, w.end, 'self'),
        serverRss: inWindow.length ? inWindow[inWindow.length - 1]!.rss : readRss(target.pid),
        maxSendLag: w.maxSendLag,
        genLoopP99: Math.max(...per.map((p) => p.loopP99)),
        genLoopMax: Math.max(...per.map((p) => p.loopMax)),
        statusUpdates: statusPerStep[s]!,
      });
    }
    const rs = [...reports.values()];
    const sum = (f: (r: (typeof rs)[number]) => number) => rs.reduce((a, r) => a + f(r), 0);
    const errors: Record<string, number> = { ...creatorErrors };
    for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      scenario: 'group',
      options: opts,
      registration: { users: M, seconds: regSeconds },
      groupCreateMs,
      connectSeconds,
      recipients,
      steps: rows,
      stoppedEarly,
      totals: {
        received: sum((r) => r.received),
        duplicates: sum((r) => r.duplicates),
        outOfOrder: sum((r) => r.outOfOrder),
        ackFrames: sum((r) => r.ackFrames),
        ackIds: sum((r) => r.ackIds),
        readFrames: sum((r) => r.readFrames ?? 0),
        statusUpdates: statusTotal,
        errors,
        closedEarly: sum((r) => r.closedEarly),
      },
      rssAfterConnect,
    };
  } finally {
    clearInterval(sampler);
    for (const w of workers) w.postMessage({ t: 'close' });
    creatorWs.close(1000);
    await sleep(400);
    for (const w of workers) void w.terminate();
  }
}

export function printGroup(r: GroupReport, log: (s: string) => void): void {
  const o = r.options;
  log('');
  log(
    `group: ${o.members} members (1 creator sending + ${r.recipients} recipients, one socket each, all online), ${o.contentBytes}-byte padding, ${o.stepSeconds} s per rate, ` +
      `members in ${o.generators} worker thread(s), receipts ${o.receipts ? `on (ack_delivered as the SDK batches them: at most one per socket per ${o.ackDelayMs > 0 ? o.ackDelayMs : 100} ms${o.readIntervalMs > 0 ? `; ack_read every ${o.readIntervalMs} ms` : ''})` : 'OFF'}`,
  );
  log(
    `registration ${r.registration.seconds.toFixed(1)} s; POST /v1/groups ${r.groupCreateMs.toFixed(0)} ms; sockets connected in ${r.connectSeconds.toFixed(1)} s; server RSS after connect ${fmtBytes(r.rssAfterConnect)}`,
  );
  log(
    'last = scheduled send -> the LAST member has it; first = -> the first member has it; ack = -> ack_sent at the creator (ms, open loop); fan-out/s = member deliveries per second during the sending window',
  );
  const rows = [
    [
      'rate/s',
      'msgs',
      'complete',
      'last p50',
      'last p99',
      'last max',
      'first p50',
      'first p99',
      'ack p50',
      'ack p99',
      'fan-out/s',
      'sustained/s',
      'drain',
      'srv CPU%',
      'srv RSS',
      'gen CPU%',
      'gen loop p99/max',
    ],
  ];
  for (const s of r.steps) {
    rows.push([
      s.warmup ? `${fmtInt(s.rate)} warm-up` : fmtInt(s.rate),
      fmtInt(s.sent),
      fmtInt(s.complete),
      fmtMs(s.last.p50),
      fmtMs(s.last.p99),
      fmtMs(s.last.max),
      fmtMs(s.first.p50),
      fmtMs(s.first.p99),
      fmtMs(s.ack.p50),
      fmtMs(s.ack.p99),
      fmtInt(s.fanoutPerSec),
      fmtInt(s.fanoutSustained),
      fmtMs(s.drainedAfterMs),
      Number.isFinite(s.serverCpuPct) ? s.serverCpuPct.toFixed(0) : '-',
      fmtBytes(s.serverRss),
      Number.isFinite(s.genCpuPct) ? s.genCpuPct.toFixed(0) : '-',
      `${fmtMs(s.genLoopP99)}/${fmtMs(s.genLoopMax)}`,
    ]);
  }
  log(table(rows));
  log(
    '("warm-up" = the first rate for --warmup-seconds before the judged rates, not judged; "complete" = messages every recipient got; "sustained/s" = all member deliveries of the rate / time from its first scheduled send to its last delivery; "drain" = ms from the last scheduled send until the last member had the last message; ' +
      '"gen loop" = event-loop delay in the member workers, ms: high values mean the load generator, not the server, delayed arrivals)',
  );
  if (r.stoppedEarly) log(`NOTE: ${r.stoppedEarly}`);
  const t = r.totals;
  log(
    `totals: member deliveries ${fmtInt(t.received)}, duplicates ${fmtInt(t.duplicates)}, seq gaps ${fmtInt(t.outOfOrder)}; ack_delivered frames ${fmtInt(t.ackFrames)} (${(t.ackIds / Math.max(1, t.ackFrames)).toFixed(2)} ids/frame); ack_read frames ${fmtInt(t.readFrames)}; ` +
      `status_update frames at the creator ${fmtInt(t.statusUpdates)}`,
  );
  const errs = Object.entries(t.errors);
  if (errs.length || t.closedEarly)
    log(`errors: ${errs.map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}; sockets closed early: ${t.closedEarly}`);
}
