import { fork, type ChildProcess } from 'node:child_process';
import { createUsers, runTag, socketUrl } from './api.js';
import type { IdleChildEvent } from './idle-child.js';
import { CpuMeter, readFdLimit, readRss, type Target } from './server.js';
import { fmtBytes, fmtInt, sleep } from './stats.js';

/*
 * `idle`: M authenticated sockets that say nothing. Measures the server's RSS before and
 * after connecting them (bytes per socket), how fast they connect, and the CPU the server
 * spends on them while idle (its heartbeat pings included when --hold-seconds exceeds the
 * ping interval). Sockets share tokens: U users × D devices, assigned round-robin.
 */

export interface IdleOptions {
  sockets: number;
  users: number;
  devices: number;
  perProcess: number;
  concurrency: number;
  settleSeconds: number;
  holdSeconds: number;
}

export interface IdleReport {
  scenario: 'idle';
  options: IdleOptions;
  requested: number;
  connected: number;
  failed: number;
  errors: Record<string, number>;
  processes: number;
  connectSeconds: number;
  connectCpuPct: number;
  idleCpuPct: number;
  rssBefore: number;
  rssAfter: number;
  rssAfterHold: number;
  rssAfterClose: number;
  bytesPerSocket: number;
  droppedWhileIdle: number;
  serverFdLimit: number;
  note: string | null;
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s[Math.floor(s.length / 2)] as number) : NaN;
}

async function steadyRss(pid: number | null, n = 5, gapMs = 300): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(readRss(pid));
    if (i < n - 1) await sleep(gapMs);
  }
  return median(xs);
}

export async function runIdle(target: Target, opts: IdleOptions, log: (s: string) => void): Promise<IdleReport> {
  let note: string | null = null;
  const fdLimit = readFdLimit(target.pid);
  let M = opts.sockets;
  if (Number.isFinite(fdLimit) && M > fdLimit - 200) {
    note = `requested ${M} sockets but the server process may open only ${fdLimit} files (ulimit -n, and the hard limit cannot be raised here); measured with ${fdLimit - 200}`;
    log(`idle: WARNING ${note}`);
    M = fdLimit - 200;
  }
  const U = Math.max(1, Math.min(opts.users, M));
  const tag = runTag();
  log(`idle: registering ${U} users × ${opts.devices} device(s)...`);
  const t0 = performance.now();
  const sessions = (await createUsers(target.baseUrl, { prefix: `bi${tag}`, count: U, devices: opts.devices, concurrency: 8 })).flat();
  log(`idle: registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const urls = sessions.map((s) => socketUrl(target.baseUrl, s));

  await sleep(1000);
  const rssBefore = await steadyRss(target.pid);
  log(`idle: server RSS before: ${fmtBytes(rssBefore)}`);

  const host = new URL(target.baseUrl).hostname;
  const loopback = host === '127.0.0.1' || host === 'localhost';
  const P = Math.max(1, Math.ceil(M / opts.perProcess));
  const children: ChildProcess[] = [];
  const state = Array.from({ length: P }, () => ({
    connected: 0,
    failed: 0,
    done: false,
    closed: false,
    errors: {} as Record<string, number>,
    seconds: 0,
    dropped: 0,
  }));
  const cpu = new CpuMeter(target.pid);
  const tConnect = performance.now();
  let assigned = 0;
  for (let i = 0; i < P; i++) {
    const count = Math.min(opts.perProcess, M - assigned, Math.ceil((M - assigned) / (P - i)));
    assigned += count;
    const cp = fork(new URL('./idle-child.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(cp);
    cp.on('message', (raw) => {
      const e = raw as IdleChildEvent;
      const st = state[i]!;
      if (e.t === 'progress') {
        st.connected = e.connected;
        st.failed = e.failed;
      } else if (e.t === 'connected') {
        Object.assign(st, { connected: e.connected, failed: e.failed, errors: e.errors, seconds: e.seconds, done: true });
      } else if (e.t === 'closed') {
        st.closed = true;
        st.dropped = e.droppedWhileIdle;
      }
    });
    cp.send({
      t: 'connect',
      // Each child starts at a different token so that shares interleave users.
      urls: urls.slice(i % urls.length).concat(urls.slice(0, i % urls.length)),
      count,
      // 127.0.0.2, 127.0.0.3, ...: a fresh set of ~28k ephemeral ports per child.
      localAddress: loopback ? `127.0.0.${2 + i}` : undefined,
      concurrency: opts.concurrency,
      timeoutMs: 60_000,
    });
  }
  try {
    let lastLog = 0;
    while (!state.every((s) => s.done)) {
      await sleep(200);
      if (children.some((c) => c.exitCode !== null)) throw new Error('an idle child process exited early');
      if (Date.now() - lastLog > 1000 && process.stderr.isTTY) {
        lastLog = Date.now();
        const c = state.reduce((a, s) => a + s.connected, 0);
        const f = state.reduce((a, s) => a + s.failed, 0);
        process.stderr.write(
          `\r  connected ${fmtInt(c)} / ${fmtInt(M)}${f ? `, failed ${f}` : ''}, server RSS ${fmtBytes(readRss(target.pid))}     `,
        );
      }
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    const connectSeconds = (performance.now() - tConnect) / 1000;
    const connectCpuPct = cpu.lap();
    const connected = state.reduce((a, s) => a + s.connected, 0);
    const failed = state.reduce((a, s) => a + s.failed, 0);
    const errors: Record<string, number> = {};
    for (const s of state) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
    log(
      `idle: ${fmtInt(connected)} sockets connected in ${connectSeconds.toFixed(1)} s (${fmtInt(connected / connectSeconds)}/s) from ${P} process(es)${failed ? `, ${failed} failed` : ''}`,
    );

    await sleep(opts.settleSeconds * 1000);
    const rssAfter = await steadyRss(target.pid);
    cpu.lap();
    await sleep(opts.holdSeconds * 1000);
    const idleCpuPct = cpu.lap();
    const rssAfterHold = await steadyRss(target.pid);

    for (const c of children) c.send({ t: 'close' });
    const deadline = Date.now() + 30_000;
    while (!state.every((s) => s.closed) && Date.now() < deadline) await sleep(100);
    await sleep(2000);
    const rssAfterClose = await steadyRss(target.pid);
    return {
      scenario: 'idle',
      options: opts,
      requested: opts.sockets,
      connected,
      failed,
      errors,
      processes: P,
      connectSeconds,
      connectCpuPct,
      idleCpuPct,
      rssBefore,
      rssAfter,
      rssAfterHold,
      rssAfterClose,
      bytesPerSocket: connected ? (rssAfter - rssBefore) / connected : NaN,
      droppedWhileIdle: state.reduce((a, s) => a + s.dropped, 0),
      serverFdLimit: fdLimit,
      note,
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

export function printIdle(r: IdleReport, log: (s: string) => void): void {
  const o = r.options;
  log('');
  log(
    `idle: ${fmtInt(r.connected)} idle sockets (${o.users} users × ${o.devices} device(s), tokens shared), ${r.processes} client process(es)`,
  );
  log(
    `  connect: ${r.connectSeconds.toFixed(1)} s, ${fmtInt(r.connected / r.connectSeconds)} sockets/s (auth + sync_complete each), server CPU ${r.connectCpuPct.toFixed(0)}% of one core`,
  );
  log(
    `  server RSS: before ${fmtBytes(r.rssBefore)}, after connect+${o.settleSeconds}s ${fmtBytes(r.rssAfter)}, after ${o.holdSeconds}s idle ${fmtBytes(r.rssAfterHold)}, after close ${fmtBytes(r.rssAfterClose)}`,
  );
  log(
    `  => ${fmtBytes(r.bytesPerSocket)} per socket (${fmtInt(r.bytesPerSocket)} B; ${fmtBytes(r.bytesPerSocket * 1_000_000)} per million sockets)`,
  );
  log(`  idle server CPU over ${o.holdSeconds}s: ${r.idleCpuPct.toFixed(1)}% of one core`);
  if (r.failed || Object.keys(r.errors).length)
    log(
      `  failures: ${r.failed} (${Object.entries(r.errors)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
    );
  if (r.droppedWhileIdle) log(`  sockets closed by the server while idle: ${r.droppedWhileIdle}`);
  log(`  server open-files limit: ${Number.isFinite(r.serverFdLimit) ? r.serverFdLimit : 'unknown'}`);
  if (r.note) log(`  NOTE: ${r.note}`);
}
