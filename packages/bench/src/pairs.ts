import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { directChatId } from '@switchboard/protocol';
import { ACK_WINDOW_MS } from '@switchboard/client';
import { createUsers, runTag, socketUrl, type Session } from './api.js';
import {
  createGenerator,
  type GeneratorConfig,
  type GeneratorEvent,
  type GeneratorResult,
  type PairsClientSpec,
  type StepSpec,
} from './pairs-load.js';
import { readCpuMs, readRss, type Target } from './server.js';
import { concat, fmtBytes, fmtInt, fmtMs, sleep, summarize, table, type Summary } from './stats.js';
import type { Transport } from './wire.js';

/*
 * `pairs`: N pairs of users, each user sending to its partner in their direct chat on an
 * open-loop schedule, the aggregate rate stepped up. Every receiver acknowledges delivery
 * (batched ack_delivered, at most one per socket per ACK_WINDOW_MS) and reads (ack_read of
 * the latest message every --read-interval ms per chat); senders read their ack_sent and the
 * status_update frames. A read due when a message arrives is sent at once in place of its
 * ack_delivered, as the SDK's markRead does (for every system). Against Switchboard
 * (PairsHooks.batch) the sockets are also opened with ?batch=1, as the SDK's: a callback's
 * frames in one WebSocket message. The coordinator (this thread) samples the server's CPU
 * and RSS.
 */

export type GenMode = 'worker' | 'process' | 'inline';

/**
 * Message rate one generator thread is given at most when --generators is not set. The lean
 * generator costs ~20-25 µs of CPU per message near the relays' knees (its socket writes
 * and reads, mostly in the kernel), so a thread keeps up with 40,000 msg/s.
 */
export const RATE_PER_GENERATOR = 40_000;

/**
 * Generator threads for a run whose fastest step is maxRate msg/s: one per
 * RATE_PER_GENERATOR, leaving one core to the server (so one on two cores). Each thread
 * costs more per message than one thread doing it all: fewer events per wake-up, and a
 * thread that sleeps is woken by the server's writes, which is dear on a VM (issue 23: on 2
 * vCPUs, 24 against 35 µs per message against the ws relay).
 */
export function autoGenerators(maxRate: number): number {
  return Math.max(1, Math.min(availableParallelism() - 1, Math.ceil(maxRate / RATE_PER_GENERATOR)));
}

export interface PairsOptions {
  pairs: number;
  rates: number[];
  stepSeconds: number;
  warmupRate: number;
  warmupSeconds: number;
  contentBytes: number;
  gen: GenMode;
  generators: number;
  readIntervalMs: number;
  /** How long a due receipt may wait for its socket's next send, to share its write (ms; also at most one send interval). */
  receiptGraceMs?: number;
  receipts: boolean;
  /**
   * Each pair's two users send half a round apart, instead of one right after the other (their
   * sockets next to each other in the round-robin; default false).
   */
  partnersApart?: boolean;
  /** Messages each socket sends at one scheduled instant (default 1). */
  burst?: number;
  /** Generator threads poll instead of sleeping while the steps run (each takes a whole core). */
  spin?: boolean;
  drainMs: number;
  /** Stop stepping up once this many seconds' worth of messages are outstanding. */
  maxBacklogSeconds: number;
}

export interface PairsStepRow {
  label: string;
  targetRate: number;
  seconds: number;
  sentRate: number;
  deliveredRate: number;
  latency: Summary;
  ack: Summary;
  serverCpuPct: number;
  genCpuPct: number;
  serverRss: number;
  maxSendLag: number;
  maxRecvGap: number;
  undelivered: number;
  /** new_message frames that arrived during the step's window. */
  delivered: number;
  /** CPU (% of one core) of the extra processes named in PairsHooks.cpuSources. */
  extraCpuPct: Record<string, number>;
  /** Increase of each PairsHooks.counters value over the step's window (interpolated at its edges). */
  counters: Record<string, number>;
}

/** What the cluster scenario changes in `pairs`: where users register and connect, which processes are "the server", extra counters. */
export interface PairsHooks {
  /** Base URL through which user i (0..2N-1; 2j and 2j+1 are partners) registers and opens its session. */
  baseUrlFor?: (i: number) => string;
  /** The socket URL of user i. Default: the session's ws_url. */
  socketUrlFor?: (i: number, s: Session) => string;
  /** Processes whose CPU and RSS are summed as "server" (default: target.pid). */
  serverPids?: number[];
  /** Other CPU readers (name -> cumulative CPU ms), e.g. redis-server, postgres. */
  cpuSources?: Record<string, () => number>;
  /** Monotonic counters read asynchronously every 250 ms (e.g. Redis commands processed). */
  counters?: () => Promise<Record<string, number>>;
  /** Seconds to hold the connected sockets idle before the first step, to measure background counter rates. */
  baselineSeconds?: number;
  /** Sessions made up instead of registered (the reference relays have no accounts). */
  sessions?: (count: number) => Session[];
  /** How the generator's sockets connect (default ws). */
  transport?: Transport;
  /**
   * The target is Switchboard: model the SDK's socket (?batch=1, a callback's frames as one
   * array; GeneratorConfig.batch). Never for
   * the relays, which take one frame per message.
   */
  batch?: boolean;
}

export interface CounterWindow {
  seconds: number;
  delivered: number;
  deltas: Record<string, number>;
}

export interface PairsReport {
  scenario: 'pairs';
  options: PairsOptions;
  /** The sockets modelled the SDK's batching (PairsHooks.batch). */
  batch: boolean;
  registration: { users: number; seconds: number };
  steps: PairsStepRow[];
  stoppedEarly: string | null;
  totals: Omit<GeneratorResult, 'steps' | 'genIndex' | 'drainedAt'>;
  /**
   * The load generator's own cost: CPU of the bench process (every thread: generators, GC
   * helpers, this coordinator) plus generator child processes, from the first step's start
   * to the end of the drain, per message sent. CPU time, not wall time, so it holds on a
   * busy machine too; at a fixed rate it compares generators.
   */
  generator: { cpuMs: number; sysMs: number; messages: number; usPerMessage: number; sysUsPerMessage: number };
  /** With PairsHooks.counters: the idle window before the steps (sockets connected, no traffic). */
  baseline: CounterWindow | null;
  /** With PairsHooks.counters: from the first step's start to the last step's end. */
  whole: CounterWindow | null;
}

interface GenHandle {
  /** Pid of a generator child process (--gen process), to add its CPU to the generator's. */
  pid?: number;
  init(cfg: GeneratorConfig): void;
  run(startAt: number): void;
  stop(): void;
  terminate(): void;
}

function startGenerator(mode: GenMode, onEvent: (e: GeneratorEvent) => void): GenHandle {
  const entry = new URL('./pairs-worker.js', import.meta.url);
  if (mode === 'worker') {
    const w = new Worker(entry);
    w.on('message', onEvent);
    w.on('error', (err) => onEvent({ t: 'failed', genIndex: -1, message: String(err?.stack ?? err) }));
    return {
      init: (cfg) => w.postMessage({ t: 'init', cfg }),
      run: (startAt) => w.postMessage({ t: 'run', startAt }),
      stop: () => w.postMessage({ t: 'stop' }),
      terminate: () => void w.terminate(),
    };
  }
  if (mode === 'process') {
    const cp: ChildProcess = fork(entry, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cp.on('message', (m) => onEvent(m as GeneratorEvent));
    cp.on('exit', (code) => {
      if (code) onEvent({ t: 'failed', genIndex: -1, message: `generator process exited with ${code}` });
    });
    return {
      pid: cp.pid,
      init: (cfg) => cp.send({ t: 'init', cfg }),
      run: (startAt) => cp.send({ t: 'run', startAt }),
      stop: () => cp.send({ t: 'stop' }),
      terminate: () => {
        if (cp.exitCode === null) cp.kill();
      },
    };
  }
  let gen: ReturnType<typeof createGenerator> | null = null;
  let cfg0: GeneratorConfig | null = null;
  return {
    init: (cfg) => {
      cfg0 = cfg;
      gen = createGenerator(cfg, onEvent);
    },
    run: (startAt) => {
      cfg0!.startAt = startAt;
      gen!.run().then(
        (result) => onEvent({ t: 'done', result }),
        (err) => onEvent({ t: 'failed', genIndex: cfg0!.genIndex, message: String(err?.stack ?? err) }),
      );
    },
    stop: () => gen?.stop(),
    terminate: () => {},
  };
}

interface Sample {
  t: number; // epoch ms
  serverCpuMs: number;
  selfCpuMs: number;
  /** The kernel's part of selfCpuMs (socket writes and reads). */
  selfSysMs: number;
  rss: number;
  extra: Record<string, number>;
}

/** CPU % of one core between the samples closest inside [start, end]. */
function cpuBetween(samples: Sample[], start: number, end: number, key: 'serverCpuMs' | 'selfCpuMs' | ((s: Sample) => number)): number {
  const inside = samples.filter((s) => s.t >= start - 20 && s.t <= end + 20);
  if (inside.length < 2) return NaN;
  const a = inside[0]!;
  const b = inside[inside.length - 1]!;
  const get = typeof key === 'function' ? key : (s: Sample) => s[key];
  return ((get(b) - get(a)) / (b.t - a.t)) * 100;
}

/**
 * The generator's cumulative CPU (ms) at the last sample at or before t. The generators idle
 * for ≥ 250 ms before their drain ends, longer than the 200 ms sampling period, so that
 * sample misses nothing of theirs; interpolating instead would mix in the sockets' closing.
 */
function cpuAtOrBefore(samples: Sample[], t: number, key: 'selfCpuMs' | 'selfSysMs'): number {
  let v = NaN;
  for (const s of samples) if (s.t <= t) v = s[key];
  return v;
}

interface CounterSample {
  t: number;
  v: Record<string, number>;
}

/** Value of counter `k` at time t, interpolated linearly between the samples around it. */
function counterAt(samples: CounterSample[], k: string, t: number): number {
  if (samples.length === 0) return NaN;
  let i = 0;
  while (i < samples.length && samples[i]!.t < t) i++;
  if (i === 0) return samples[0]!.v[k] ?? NaN;
  if (i === samples.length) return samples[samples.length - 1]!.v[k] ?? NaN;
  const a = samples[i - 1]!;
  const b = samples[i]!;
  const va = a.v[k] ?? NaN;
  const vb = b.v[k] ?? NaN;
  return va + ((vb - va) * (t - a.t)) / Math.max(1, b.t - a.t);
}

function counterDeltas(samples: CounterSample[], start: number, end: number): Record<string, number> {
  const keys = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.v)) keys.add(k);
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = counterAt(samples, k, end) - counterAt(samples, k, start);
  return out;
}

export async function runPairs(target: Target, opts: PairsOptions, log: (s: string) => void, hooks: PairsHooks = {}): Promise<PairsReport> {
  const users = opts.pairs * 2;
  const tag = runTag();
  log(`pairs: registering ${users} users (one device each)...`);
  const t0 = performance.now();
  const sessions = hooks.sessions
    ? hooks.sessions(users)
    : (await createUsers(target.baseUrl, { prefix: `bp${tag}`, count: users, concurrency: 8, baseUrlFor: hooks.baseUrlFor })).map(
        (s) => s[0]!,
      );
  const urlOf = (i: number) => (hooks.socketUrlFor ? hooks.socketUrlFor(i, sessions[i]!) : socketUrl(target.baseUrl, sessions[i]!));
  const regSeconds = (performance.now() - t0) / 1000;
  log(
    `pairs: registered ${users} users + sessions in ${regSeconds.toFixed(1)} s (${(users / regSeconds).toFixed(0)} users/s incl. one login each)`,
  );

  const G = opts.gen === 'inline' ? 1 : Math.max(1, Math.min(opts.generators, opts.pairs));
  const perGen: PairsClientSpec[][] = Array.from({ length: G }, () => []);
  for (let j = 0; j < opts.pairs; j++) {
    const a = sessions[2 * j]!;
    const b = sessions[2 * j + 1]!;
    const chatId = directChatId(a.user_id, b.user_id);
    perGen[j % G]!.push({ url: urlOf(2 * j), userId: a.user_id, chatId }, { url: urlOf(2 * j + 1), userId: b.user_id, chatId });
  }
  const steps: StepSpec[] = [];
  if (opts.warmupSeconds > 0 && opts.warmupRate > 0) {
    // Long enough for every socket's first burst: the warm-up is there to take each pair's
    // first messages (a direct chat's creation, a socket's first reads) out of the judged
    // steps, and with bursts of K a socket sends only every K × sockets / rate seconds.
    const covering = Math.ceil(((opts.burst ?? 1) * opts.pairs * 2) / opts.warmupRate);
    steps.push({ rate: opts.warmupRate, seconds: Math.max(opts.warmupSeconds, covering), label: 'warmup' });
  }
  opts.rates.forEach((rate, i) => steps.push({ rate, seconds: opts.stepSeconds, label: String(i + 1) }));

  const results: GeneratorResult[] = [];
  const progress = new Map<number, { sent: number; received: number; acked: number; step: number }>();
  let readyCount = 0;
  let failure: string | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const handles: GenHandle[] = [];
  for (let g = 0; g < G; g++) {
    const h = startGenerator(opts.gen, (e) => {
      if (e.t === 'ready') readyCount++;
      else if (e.t === 'progress') progress.set(e.genIndex, e);
      else if (e.t === 'done') results.push(e.result);
      else if (e.t === 'failed') failure = e.message;
      poke();
    });
    handles.push(h);
    h.init({
      genIndex: g,
      clients: perGen[g]!,
      totalSenders: users,
      steps,
      startAt: 0,
      contentBytes: opts.contentBytes,
      readIntervalMs: opts.readIntervalMs,
      receiptGraceMs: opts.receiptGraceMs ?? 50,
      partnersApart: opts.partnersApart ?? false,
      receipts: opts.receipts,
      drainMs: opts.drainMs,
      runId: `${tag}g${g}`,
      connectTimeoutMs: 30_000,
      transport: hooks.transport,
      batch: hooks.batch === true && (hooks.transport ?? 'ws') === 'ws',
      burst: opts.burst ?? 1,
      spin: opts.spin ?? false,
    });
  }
  const waitFor = async (cond: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (failure) throw new Error(`load generator failed: ${failure}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  };
  try {
    await waitFor(() => readyCount === G, 60_000, 'sockets to connect');
    log(
      `pairs: ${users} sockets connected (${G} generator${G > 1 ? 's' : ''}, mode ${opts.gen}); running ${steps.map((s) => `${s.label}:${s.rate}/s×${s.seconds}s`).join(', ')}`,
    );

    const samples: Sample[] = [];
    const childPids = handles.map((h) => h.pid).filter((p): p is number => typeof p === 'number');
    const serverPids = hooks.serverPids ?? [target.pid];
    const sample = () => {
      const u = process.cpuUsage();
      let self = (u.user + u.system) / 1000;
      let selfSys = u.system / 1000;
      for (const p of childPids) {
        self += readCpuMs(p);
        selfSys += readCpuMs(p, 'system');
      }
      let cpu = 0;
      let rss = 0;
      for (const p of serverPids) {
        cpu += readCpuMs(p);
        rss += readRss(p);
      }
      const extra: Record<string, number> = {};
      for (const [k, f] of Object.entries(hooks.cpuSources ?? {})) extra[k] = f();
      samples.push({ t: Date.now(), serverCpuMs: cpu, selfCpuMs: self, selfSysMs: selfSys, rss, extra });
    };
    // Counters (e.g. Redis INFO) are read asynchronously so a slow reading never delays the CPU samples.
    const counterSamples: CounterSample[] = [];
    let counterTimer: NodeJS.Timeout | null = null;
    let counterBusy = false;
    const readCounters = async () => {
      if (!hooks.counters || counterBusy) return;
      counterBusy = true;
      try {
        const t0 = Date.now();
        const v = await hooks.counters();
        counterSamples.push({ t: (t0 + Date.now()) / 2, v });
      } catch (err) {
        log(`pairs: counter reading failed: ${(err as Error).message}`);
      } finally {
        counterBusy = false;
      }
    };
    let baseline: CounterWindow | null = null;
    let baselineStart = 0;
    if (hooks.counters) {
      await readCounters();
      counterTimer = setInterval(() => void readCounters(), 250);
      baselineStart = Date.now();
      if (hooks.baselineSeconds) {
        log(`pairs: holding the sockets idle for ${hooks.baselineSeconds} s (background baseline)...`);
        await sleep(hooks.baselineSeconds * 1000);
      }
    }
    const startAt = Date.now() + 300;
    if (hooks.counters && hooks.baselineSeconds) {
      await readCounters();
      const end = Date.now();
      baseline = { seconds: (end - baselineStart) / 1000, delivered: 0, deltas: counterDeltas(counterSamples, baselineStart, end) };
    }
    for (const h of handles) h.run(startAt);
    await sleep(Math.max(0, startAt - Date.now()));
    sample();
    const sampler = setInterval(sample, 200);
    // Planned windows, to know which step is running and to decide to stop early.
    const windows: { start: number; end: number; rate: number }[] = [];
    let t = startAt;
    for (const s of steps) {
      windows.push({ start: t, end: t + s.seconds * 1000, rate: s.rate });
      t += s.seconds * 1000;
    }
    let stoppedEarly: string | null = null;
    let lastLog = 0;
    const planEnd = t;
    try {
      await waitFor(
        () => {
          if (results.length === G) return true;
          const nowMs = Date.now();
          let sent = 0;
          let received = 0;
          let acked = 0;
          for (const p of progress.values()) {
            sent += p.sent;
            received += p.received;
            acked += p.acked;
          }
          const idx = windows.findIndex((w) => nowMs >= w.start && nowMs < w.end);
          const w = windows[idx];
          if (w && nowMs - lastLog > 1000 && process.stderr.isTTY) {
            lastLog = nowMs;
            process.stderr.write(
              `\r  step ${steps[idx]!.label} ${w.rate}/s: sent ${fmtInt(sent)} received ${fmtInt(received)} acked ${fmtInt(acked)} backlog ${fmtInt(sent - received)}     `,
            );
          }
          const backlog = Math.max(sent - received, sent - acked);
          if (!stoppedEarly && w && backlog > w.rate * opts.maxBacklogSeconds && nowMs < planEnd) {
            stoppedEarly = `stopped during step ${steps[idx]!.label} (${w.rate} msg/s): ${fmtInt(backlog)} messages outstanding, more than ${opts.maxBacklogSeconds} s worth`;
            for (const h of handles) h.stop();
          }
          return false;
        },
        planEnd - Date.now() + opts.drainMs + 60_000,
        'the load generators to finish',
      );
    } finally {
      clearInterval(sampler);
      if (counterTimer) clearInterval(counterTimer);
      if (process.stderr.isTTY) process.stderr.write('\n');
    }
    sample();
    const drainedAt = Math.max(...results.map((r) => r.drainedAt));
    // samples[0] was taken at startAt.
    const genCpuMs = cpuAtOrBefore(samples, drainedAt, 'selfCpuMs') - (samples[0]?.selfCpuMs ?? NaN);
    const genSysMs = cpuAtOrBefore(samples, drainedAt, 'selfSysMs') - (samples[0]?.selfSysMs ?? NaN);
    const sentTotal = results.reduce((a, r) => a + r.sent, 0);
    if (hooks.counters) {
      while (counterBusy) await sleep(20);
      await readCounters();
    }

    // Merge the generators' figures step by step.
    const rows: PairsStepRow[] = [];
    for (let i = 0; i < steps.length; i++) {
      const per = results.map((r) => r.steps[i]!);
      const start = Math.min(...per.map((p) => p.start));
      const end = Math.max(...per.map((p) => p.end));
      const sent = per.reduce((a, p) => a + p.sent, 0);
      if (sent === 0) continue;
      const secs = (end - start) / 1000;
      const lat = concat(per.map((p) => p.latency));
      const inWindow = samples.filter((s) => s.t >= start && s.t <= end + 50);
      const extraCpuPct: Record<string, number> = {};
      for (const k of Object.keys(hooks.cpuSources ?? {})) extraCpuPct[k] = cpuBetween(samples, start, end, (x) => x.extra[k] ?? NaN);
      const delivered = per.reduce((a, p) => a + p.recvInWindow, 0);
      rows.push({
        delivered,
        extraCpuPct,
        counters: hooks.counters ? counterDeltas(counterSamples, start, end) : {},
        label: steps[i]!.label,
        targetRate: steps[i]!.rate,
        seconds: secs,
        sentRate: sent / secs,
        deliveredRate: per.reduce((a, p) => a + p.recvInWindow, 0) / secs,
        latency: summarize(lat),
        ack: summarize(concat(per.map((p) => p.ackLatency))),
        serverCpuPct: cpuBetween(samples, start, end, 'serverCpuMs'),
        genCpuPct: cpuBetween(samples, start, end, 'selfCpuMs'),
        serverRss: inWindow.length ? inWindow[inWindow.length - 1]!.rss : NaN,
        maxSendLag: Math.max(...per.map((p) => p.maxSendLag)),
        maxRecvGap: Math.min(...per.map((p) => p.maxRecvGap)),
        undelivered: sent - lat.length,
      });
    }
    const sum = (f: (r: GeneratorResult) => number) => results.reduce((a, r) => a + f(r), 0);
    let whole: CounterWindow | null = null;
    if (hooks.counters && rows.length) {
      const js = rows.filter((r) => r.label !== 'warmup');
      const use = js.length ? js : rows;
      const firstIdx = steps.findIndex((s) => s.label === use[0]!.label);
      const per0 = results.map((r) => r.steps[firstIdx]!);
      const lastIdx = steps.findIndex((s) => s.label === use[use.length - 1]!.label);
      const perN = results.map((r) => r.steps[lastIdx]!);
      const ws = Math.min(...per0.map((p) => p.start));
      const we = Math.max(...perN.map((p) => p.end));
      whole = {
        seconds: (we - ws) / 1000,
        delivered: use.reduce((a, r) => a + r.delivered, 0),
        deltas: counterDeltas(counterSamples, ws, we),
      };
    }
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      scenario: 'pairs',
      options: opts,
      batch: hooks.batch === true && (hooks.transport ?? 'ws') === 'ws',
      registration: { users, seconds: regSeconds },
      steps: rows,
      stoppedEarly,
      baseline,
      whole,
      generator: {
        cpuMs: genCpuMs,
        sysMs: genSysMs,
        messages: sentTotal,
        usPerMessage: (genCpuMs * 1000) / Math.max(1, sentTotal),
        sysUsPerMessage: (genSysMs * 1000) / Math.max(1, sentTotal),
      },
      totals: {
        sent: sum((r) => r.sent),
        received: sum((r) => r.received),
        acked: sum((r) => r.acked),
        duplicates: sum((r) => r.duplicates),
        errors,
        statusDelivered: sum((r) => r.statusDelivered),
        statusRead: sum((r) => r.statusRead),
        ackDeliveredFrames: sum((r) => r.ackDeliveredFrames),
        ackDeliveredIds: sum((r) => r.ackDeliveredIds),
        ackFoldedIds: sum((r) => r.ackFoldedIds),
        ackReadFrames: sum((r) => r.ackReadFrames),
        closedEarly: sum((r) => r.closedEarly),
        slowFrames: sum((r) => r.slowFrames),
        socketWrites: sum((r) => r.socketWrites),
        socketReads: sum((r) => r.socketReads),
        wsMessagesOut: sum((r) => r.wsMessagesOut),
        wsMessagesIn: sum((r) => r.wsMessagesIn),
        drained: results.every((r) => r.drained),
      },
    };
  } finally {
    for (const h of handles) h.terminate();
  }
}

/** The generator's socket system calls per message sent (what most of its CPU goes to). */
export function ioPerMessage(r: PairsReport): string {
  const n = Math.max(1, r.totals.sent);
  return `${(r.totals.socketWrites / n).toFixed(2)} socket writes and ${(r.totals.socketReads / n).toFixed(2)} reads per message`;
}

/**
 * WebSocket messages on the wire per chat message, both directions (issue 23 asks at most 4
 * with receipts): the sender's send and the partner's acks, then ack_sent, new_message and
 * status_update; fewer when a socket opened with ?batch=1 carries several in one (an array
 * counts once).
 */
export function framesPerMessage(r: PairsReport): string {
  const t = r.totals;
  const n = Math.max(1, t.received);
  const how = r.batch ? '?batch=1 sockets, an array counts once' : 'no ?batch=1: one frame per message';
  return `${((t.wsMessagesOut + t.wsMessagesIn) / n).toFixed(2)} WebSocket messages per message delivered (${(t.wsMessagesOut / n).toFixed(2)} from clients, ${(t.wsMessagesIn / n).toFixed(2)} to clients; ${how})`;
}

/** How the receivers acknowledge, for the report's heading. */
function receiptsModel(r: PairsReport): string {
  const o = r.options;
  if (!o.receipts) return 'receipts OFF';
  const grace = `receipts not sent at once ride with the socket's next send within ${o.receiptGraceMs ?? 50} ms`;
  return (
    `receipts on, as the SDK (ack_read of a chat at most every ${o.readIntervalMs} ms, sent as a message arrives in place of its ack_delivered, a read covering delivery; ` +
    `other ids in ack_delivered per turn, at most one per ${ACK_WINDOW_MS} ms; ${grace})` +
    (r.batch ? `; sockets opened with ?batch=1: a socket's frames of one callback go as one WebSocket message` : '')
  );
}

export function printPairs(r: PairsReport, log: (s: string) => void): void {
  const o = r.options;
  log('');
  log(
    `pairs: ${o.pairs} pairs (${o.pairs * 2} sockets), ${o.contentBytes}-byte padding, ${o.stepSeconds} s per step, load generator: ${o.gen}${o.gen !== 'inline' ? ` ×${o.generators}` : ''}, ${receiptsModel(r)}${(o.burst ?? 1) > 1 ? `, bursts of ${o.burst} messages per socket` : ''}${o.partnersApart ? ', partners half a round apart' : ''}${o.spin ? ', generator polling (no sleep)' : ''}`,
  );
  log(
    'latency = scheduled send time -> new_message at the partner (open loop); ack = scheduled send time -> ack_sent; CPU in % of one core (machine total = 100% × cores)',
  );
  const rows = [
    [
      'step',
      'target/s',
      'sent/s',
      'delivered/s',
      'lat p50',
      'lat p99',
      'lat max',
      'ack p50',
      'ack p99',
      'srv CPU%',
      'gen CPU%',
      'srv RSS',
      'gen lag',
      'max gap',
      'missing',
    ],
  ];
  for (const s of r.steps) {
    rows.push([
      s.label,
      fmtInt(s.targetRate),
      fmtInt(s.sentRate),
      fmtInt(s.deliveredRate),
      fmtMs(s.latency.p50),
      fmtMs(s.latency.p99),
      fmtMs(s.latency.max),
      fmtMs(s.ack.p50),
      fmtMs(s.ack.p99),
      Number.isFinite(s.serverCpuPct) ? s.serverCpuPct.toFixed(0) : '-',
      Number.isFinite(s.genCpuPct) ? s.genCpuPct.toFixed(0) : '-',
      fmtBytes(s.serverRss),
      fmtMs(s.maxSendLag),
      fmtMs(s.maxRecvGap),
      fmtInt(s.undelivered),
    ]);
  }
  log(table(rows));
  log(
    '(latencies in ms; "gen lag" = worst delay of the generator writing a send after its scheduled time; "max gap" = longest stretch with no message arriving at all (a server stall); "missing" = messages of that step never received)',
  );
  const t = r.totals;
  if (r.stoppedEarly) log(`NOTE: ${r.stoppedEarly}`);
  log(
    `totals: sent ${fmtInt(t.sent)}, received ${fmtInt(t.received)}, ack_sent ${fmtInt(t.acked)}, duplicates ${fmtInt(t.duplicates)}, drained ${t.drained ? 'yes' : 'NO'}; ` +
      `ack_delivered frames ${fmtInt(t.ackDeliveredFrames)} (${(t.ackDeliveredIds / Math.max(1, t.ackDeliveredFrames)).toFixed(1)} ids/frame, ${fmtInt(t.ackFoldedIds)} more ids acknowledged by reads instead), ack_read frames ${fmtInt(t.ackReadFrames)}; ` +
      `status_update delivered ${fmtInt(t.statusDelivered)}, read ${fmtInt(t.statusRead)}`,
  );
  log(`socket frames: ${framesPerMessage(r)}`);
  log(
    `load generator: ${r.generator.usPerMessage.toFixed(1)} µs CPU per message, ${r.generator.sysUsPerMessage.toFixed(1)} of it in the kernel (${fmtInt(r.generator.cpuMs)} ms over ${fmtInt(r.generator.messages)} messages, first step to end of drain); ${ioPerMessage(r)}${r.options.spin ? ' (polling: that is a whole core at every rate, not its cost)' : ''}`,
  );
  if (t.slowFrames) log(`load generator: ${fmtInt(t.slowFrames)} frames not in the expected shape, parsed the slow way`);
  const errs = Object.entries(t.errors);
  if (errs.length || t.closedEarly)
    log(`errors: ${errs.map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}; sockets closed early: ${t.closedEarly}`);
}
