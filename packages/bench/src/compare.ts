import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Session } from './api.js';
import { printCluster, runCluster, startRedis, type ClusterOptions } from './cluster.js';
import { ioPerMessage, runPairs, type PairsHooks, type PairsOptions, type PairsReport, type PairsStepRow } from './pairs.js';
import { freePort, readCpuMs, spawnServer, waitHealthy, type SpawnOptions, type Target } from './server.js';
import { fmtInt, table } from './stats.js';

/*
 * `npm run bench -- compare`: Switchboard beside the relays people use today, in one run,
 * driven by the same pairs load generator with the same message size and the same pass
 * rule, a fresh server for each:
 *   ws            a bare `ws` relay, one process (the floor: no storage, no semantics)
 *   socketio      a Socket.IO relay, one process
 *   socketio-2    two Socket.IO processes on the official Redis adapter, pairs split across them
 *   switchboard   embedded: one process, every message committed to SQLite before its ack
 *   cluster-2     two Switchboard nodes on Redis + PostgreSQL, pairs split across them
 * ws and socketio run in every compare, first, and their knees are printed as the reference
 * line: a generator that cannot drive them far (issue 23: ≥ 40,000 and ≥ 20,000 msg/s on
 * 2 vCPUs) caps every system and pulls every ratio towards 1.
 * The relays store nothing and acknowledge at once; Switchboard stores every message
 * durably. A step passes when p99 send-to-receive ≤ 50 ms, ≥ 95 % of its messages arrived
 * within the step, and nothing was lost by the end; the knee is the highest step reached
 * before the first that fails.
 */

export const SYSTEMS = ['ws', 'socketio', 'socketio-2', 'switchboard', 'cluster-2'] as const;
export type SystemName = (typeof SYSTEMS)[number];
/** Run in every compare: their knees show what the generator can drive on this machine. */
export const REFERENCE_SYSTEMS: SystemName[] = ['ws', 'socketio'];
/** Issue 23's bar for the generator on a quiet 2-vCPU machine: below it, the generator (or a busy machine) caps every system. */
const REFERENCE_BAR: Partial<Record<SystemName, number>> = { ws: 40_000, socketio: 20_000 };

export interface CompareOptions {
  systems: SystemName[];
  pairs: PairsOptions;
  pgUrl: string;
  p99LimitMs: number;
}

export interface SystemResult {
  system: SystemName;
  describe: string;
  steps: PairsStepRow[];
  /** Highest passing step (msg/s) before the first failing one; 0 when none passed. */
  knee: number;
  /** Server CPU per delivered message at the knee step (µs): the system's own processes. */
  cpuUsPerMsg: number;
  /** The same with Redis and PostgreSQL added (cluster shapes). */
  cpuUsPerMsgWithServices: number;
  stoppedEarly: string | null;
  lost: number;
  /** The load generator's CPU per message over the run (PairsReport.generator). */
  genUsPerMsg: number;
  /** Its kernel part (socket system calls). */
  genSysUsPerMsg: number;
  /** Its socket writes and reads per message, as text. */
  genIo: string;
  /** The first judged step that failed: what the system's processes used then (% of one core). */
  firstFail: { rate: number; serverCpuPct: number } | null;
}

export interface CompareReport {
  scenario: 'compare';
  options: CompareOptions;
  results: SystemResult[];
}

const relayDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'relays');

export function passes(row: PairsStepRow, p99LimitMs: number): boolean {
  const sent = row.sentRate * row.seconds;
  return row.latency.p99 <= p99LimitMs && row.delivered >= 0.95 * sent && row.undelivered === 0;
}

function judge(system: SystemName, describe: string, r: PairsReport, p99LimitMs: number, services: string[]): SystemResult {
  const steps = r.steps.filter((s) => s.label !== 'warmup');
  let kneeRow: PairsStepRow | undefined;
  let failRow: PairsStepRow | undefined;
  for (const s of steps) {
    if (!passes(s, p99LimitMs)) {
      failRow = s;
      break;
    }
    kneeRow = s;
  }
  const perMsg = (pct: number, row: PairsStepRow) => (row.deliveredRate > 0 ? ((pct / 100) * 1e6) / row.deliveredRate : NaN);
  const servicePct = (row: PairsStepRow) => services.reduce((a, k) => a + (row.extraCpuPct[k] ?? 0), 0);
  return {
    system,
    describe,
    steps: r.steps,
    knee: kneeRow?.targetRate ?? 0,
    cpuUsPerMsg: kneeRow ? perMsg(kneeRow.serverCpuPct, kneeRow) : NaN,
    cpuUsPerMsgWithServices: kneeRow ? perMsg(kneeRow.serverCpuPct + servicePct(kneeRow), kneeRow) : NaN,
    stoppedEarly: r.stoppedEarly,
    lost: r.totals.sent - r.totals.received,
    genUsPerMsg: r.generator.usPerMessage,
    genSysUsPerMsg: r.generator.sysUsPerMessage,
    genIo: ioPerMessage(r),
    firstFail: failRow ? { rate: failRow.targetRate, serverCpuPct: failRow.serverCpuPct } : null,
  };
}

/** A relay process of relays/; resolves once it answers /healthz. */
export async function spawnRelay(script: string, args: string[]): Promise<Target> {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(relayDir, script), String(port), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitHealthy(baseUrl, 15_000, proc);
  return {
    baseUrl,
    pid: proc.pid ?? null,
    describe: `${script} on port ${port} (pid ${proc.pid})`,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Made-up users for the relays (they have no accounts): user i connects with ?user=u{i}. */
export function relaySessions(portOf: (i: number) => number): (count: number) => Session[] {
  return (count) =>
    Array.from({ length: count }, (_, i) => ({
      token: '',
      user_id: `u${String(i).padStart(6, '0')}`,
      device_id: `d${i}`,
      username: `u${i}`,
      ws_url: `ws://127.0.0.1:${portOf(i)}/v1/ws?user=u${String(i).padStart(6, '0')}`,
    }));
}

/** Pair j: user 2j on process j mod 2, user 2j+1 on the other (as the cluster scenario does). */
const acrossTwo = (i: number) => (Math.floor(i / 2) + (i % 2)) % 2;

async function runRelay(system: SystemName, opts: PairsOptions, p99LimitMs: number, log: (s: string) => void): Promise<SystemResult> {
  if (system === 'ws' || system === 'socketio') {
    const t = await spawnRelay(system === 'ws' ? 'ws-relay.js' : 'socketio-relay.js', []);
    try {
      const port = Number(new URL(t.baseUrl).port);
      const r = await runPairs(t, opts, log, {
        sessions: relaySessions(() => port),
        transport: system === 'ws' ? 'ws' : 'socket.io',
      });
      return judge(system, t.describe, r, p99LimitMs, []);
    } finally {
      await t.stop();
    }
  }
  // socketio-2: two processes on a private redis-server.
  const redis = await startRedis();
  const procs: Target[] = [];
  try {
    procs.push(await spawnRelay('socketio-relay.js', [redis.url]), await spawnRelay('socketio-relay.js', [redis.url]));
    const ports = procs.map((p) => Number(new URL(p.baseUrl).port));
    const redisPid = redis.proc.pid ?? null;
    const hooks: PairsHooks = {
      sessions: relaySessions((i) => ports[acrossTwo(i)]!),
      transport: 'socket.io',
      serverPids: procs.map((p) => p.pid).filter((p): p is number => typeof p === 'number'),
      cpuSources: { redis: () => readCpuMs(redisPid) },
    };
    const r = await runPairs(procs[0]!, opts, log, hooks);
    return judge(system, `2 × socketio-relay.js on redis-server :${redis.port}`, r, p99LimitMs, ['redis']);
  } finally {
    for (const p of procs) await p.stop();
    await redis.stop();
  }
}

export async function runCompare(opts: CompareOptions, spawnOpts: SpawnOptions, log: (s: string) => void): Promise<CompareReport> {
  const results: SystemResult[] = [];
  // Every limit off: the generator is one client sending far faster than a person.
  const sbSpawn: SpawnOptions = { ...spawnOpts, env: { RATE_LIMITS: 'off', ...spawnOpts.env } };
  for (const system of opts.systems) {
    log('');
    log(`=== compare: ${system}`);
    let res: SystemResult;
    if (system === 'switchboard') {
      const t = await spawnServer(sbSpawn);
      try {
        // Switchboard's sockets as its SDK opens them (?batch=1); the relays take one frame per message.
        res = judge(system, t.describe, await runPairs(t, opts.pairs, log, { batch: true }), opts.p99LimitMs, []);
      } finally {
        await t.stop();
      }
    } else if (system === 'cluster-2') {
      const copts: ClusterOptions = { nodes: 2, pgUrl: opts.pgUrl, baselineSeconds: 0, pairs: opts.pairs };
      const r = await runCluster(copts, sbSpawn, log);
      // Its PostgreSQL rows, WAL bytes, Redis commands and socket frames per message, step by step.
      printCluster(r, log);
      res = judge(system, '2 Switchboard nodes, Redis + PostgreSQL', r.pairs, opts.p99LimitMs, ['redis', 'postgres']);
    } else {
      res = await runRelay(system, opts.pairs, opts.p99LimitMs, log);
    }
    results.push(res);
    printSteps(res, opts.p99LimitMs, log, !!opts.pairs.spin);
  }
  return { scenario: 'compare', options: opts, results };
}

function printSteps(r: SystemResult, p99LimitMs: number, log: (s: string) => void, spin: boolean): void {
  const rows = [['step', 'offered/s', 'delivered/s', 'p50 ms', 'p99 ms', 'server CPU %', 'gen CPU %', 'lost', 'pass']];
  for (const s of r.steps) {
    rows.push([
      s.label,
      fmtInt(s.targetRate),
      fmtInt(Math.round(s.deliveredRate)),
      s.latency.p50.toFixed(1),
      s.latency.p99.toFixed(1),
      s.serverCpuPct.toFixed(0),
      s.genCpuPct.toFixed(0),
      fmtInt(s.undelivered),
      s.label === 'warmup' ? '' : passes(s, p99LimitMs) ? 'yes' : 'no',
    ]);
  }
  log(table(rows));
  if (r.stoppedEarly) log(`  ${r.stoppedEarly}`);
  log(
    `  load generator: ${r.genUsPerMsg.toFixed(1)} µs CPU per message, ${r.genSysUsPerMsg.toFixed(1)} of it in the kernel; ${r.genIo}${spin ? ' (polling: that is a whole core at every rate, not its cost)' : ''}`,
  );
}

export function printCompare(r: CompareReport, log: (s: string) => void): void {
  const o = r.options.pairs;
  log('');
  log(
    `compare: ${o.pairs} pairs (${o.pairs * 2} sockets), ${o.contentBytes}-byte padding, ${o.stepSeconds} s per step, receipts ${o.receipts ? 'on' : 'off'}${(o.burst ?? 1) > 1 ? `, bursts of ${o.burst}` : ''}${o.spin ? ', generator polling' : ''}; pass = p99 ≤ ${r.options.p99LimitMs} ms, ≥ 95 % delivered in the step, nothing lost`,
  );
  const base = r.results.find((x) => x.system === 'socketio');
  const rows = [['system', 'knee msg/s', 'server µs/msg', 'incl. Redis/PG µs/msg', 'knee vs socketio', 'stores messages', 'gen µs/msg']];
  for (const x of r.results) {
    rows.push([
      x.system,
      fmtInt(x.knee),
      Number.isFinite(x.cpuUsPerMsg) ? x.cpuUsPerMsg.toFixed(0) : '-',
      Number.isFinite(x.cpuUsPerMsgWithServices) ? x.cpuUsPerMsgWithServices.toFixed(0) : '-',
      base && base.knee > 0 ? `${(x.knee / base.knee).toFixed(2)}×` : '-',
      x.system === 'switchboard' || x.system === 'cluster-2' ? 'yes, durably' : 'no',
      Number.isFinite(x.genUsPerMsg) ? x.genUsPerMsg.toFixed(1) : '-',
    ]);
  }
  log(table(rows));
  log(referenceLine(r));
}

/**
 * A one-process relay at this share of one core in the step where it failed ran out of CPU
 * itself: it cannot go faster on this machine, whatever the generator does.
 */
const RELAY_SATURATED_PCT = 90;

/** The bare ws relay's and Socket.IO's knees in this run, and whether they show a generator that kept up. */
export function referenceLine(r: CompareReport): string {
  const top = Math.max(...r.options.pairs.rates);
  const parts: string[] = [];
  const notes: string[] = [];
  for (const name of REFERENCE_SYSTEMS) {
    const x = r.results.find((y) => y.system === name);
    const label = name === 'ws' ? 'bare ws relay' : 'Socket.IO (1 process)';
    if (!x) {
      parts.push(`${label} not run`);
      continue;
    }
    parts.push(`${label} ${fmtInt(x.knee)} msg/s`);
    if (x.knee >= top) notes.push(`${name} passed the top step: raise --rates to find its knee`);
    else if (x.knee < (REFERENCE_BAR[name] ?? 0)) {
      const f = x.firstFail;
      notes.push(
        f && f.serverCpuPct >= RELAY_SATURATED_PCT
          ? `${name} below ${fmtInt(REFERENCE_BAR[name]!)} msg/s, but at ${f.serverCpuPct.toFixed(0)}% of a core where it failed (${fmtInt(f.rate)} msg/s): the relay itself is the limit on this machine, not the generator`
          : `${name} below ${fmtInt(REFERENCE_BAR[name]!)} msg/s: the generator or a busy machine may cap every system here`,
      );
    }
  }
  return `reference (same run, same generator): ${parts.join(', ')}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}
