import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.js';

/*
 * The server under test: either a child process this bench starts (`switchboard serve`
 * with a fresh DATA_DIR), so that its RSS and CPU can be read from /proc and it does not
 * share an event loop with the load generator, or an already running server (--url).
 */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const cliEntry = path.join(repoRoot, 'packages/cli/dist/main.js');

export interface Target {
  baseUrl: string;
  /** Server process id when known (spawned, or --pid); enables RSS/CPU readings. */
  pid: number | null;
  /** Stops the server if this bench started it. */
  stop(): Promise<void>;
  describe: string;
}

export interface SpawnOptions {
  nodeArgs: string[];
  env: Record<string, string>;
  keepData: boolean;
  quiet: boolean;
  /** Listen on this port instead of a free one (a cluster node needs it before start, for PUBLIC_WS_URL). */
  port?: number;
  /** Use this DATA_DIR (kept, or not, as keepData says) instead of a fresh one. */
  dataDir?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitHealthy(baseUrl: string, timeoutMs: number, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`server process exited with code ${proc.exitCode} before /healthz answered`);
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${baseUrl}/healthz did not answer 200 within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function spawnServer(opts: SpawnOptions): Promise<Target> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'switchboard-bench-'));
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    PASSWORD_HASH_KIB: '1024',
    // Load scenarios are one client doing the work of thousands: per-client limits would refuse them.
    RATE_LIMITS: 'off',
    ...opts.env,
  };
  const proc = spawn(process.execPath, [...opts.nodeArgs, cliEntry, 'serve'], {
    env,
    stdio: ['ignore', opts.quiet ? 'ignore' : 'inherit', 'inherit'],
    cwd: repoRoot,
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(baseUrl, 30_000, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    baseUrl,
    pid: proc.pid ?? null,
    describe: `spawned: node ${[...opts.nodeArgs, path.relative(repoRoot, cliEntry), 'serve'].join(' ')} (pid ${proc.pid}, DATA_DIR=${dataDir})`,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function attachServer(url: string, pid: number | null): Promise<Target> {
  const baseUrl = url.replace(/\/+$/, '');
  await waitHealthy(baseUrl, 10_000);
  return { baseUrl, pid, describe: `running server at ${baseUrl}${pid ? ` (pid ${pid})` : ''}`, stop: async () => {} };
}

/* ---- /proc readings (Linux) ---- */

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64/arm64

/** Resident set size in bytes, or NaN. */
export function readRss(pid: number | null): number {
  if (!pid) return NaN;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Total CPU time (user+system) of the process in ms, or NaN. */
export function readCpuMs(pid: number | null, which: 'all' | 'system' = 'all'): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (((which === 'all' ? utime : 0) + stime) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * Total CPU time (ms) of every process whose command name is `comm` (e.g. all `postgres`
 * processes), or NaN. The time of children that exited and were reaped is counted too
 * (cutime/cstime of their parent): PostgreSQL backends come and go with the pools'
 * connections, and without it their CPU vanished from the sum when they exited.
 */
export function readCpuMsByName(comm: string): number {
  let total = 0;
  let found = false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      if (stat.slice(open + 1, close) !== comm) continue;
      const rest = stat.slice(close + 2).split(' ');
      // utime, stime, cutime, cstime: fields 14-17.
      total += ((Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) * 1000) / CLK_TCK;
      found = true;
    } catch {
      /* exited meanwhile */
    }
  }
  return found ? total : NaN;
}

/** Soft limit on open files of the process, or NaN. */
export function readFdLimit(pid: number | null): number {
  if (!pid) return NaN;
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** CPU use between two readings, as percent of one core. */
export class CpuMeter {
  private cpu0: number;
  private t0: number;
  constructor(private readonly pid: number | null) {
    this.cpu0 = readCpuMs(pid);
    this.t0 = performance.now();
  }
  /** Percent of one core since construction or the last lap; then restarts. */
  lap(): number {
    const cpu = readCpuMs(this.pid);
    const t = performance.now();
    const pct = ((cpu - this.cpu0) / (t - this.t0)) * 100;
    this.cpu0 = cpu;
    this.t0 = t;
    return pct;
  }
}

/** Same for this (load generator) process, all threads included. */
export class SelfCpuMeter {
  private u0 = process.cpuUsage();
  private t0 = performance.now();
  lap(): number {
    const u = process.cpuUsage(this.u0);
    const t = performance.now();
    const pct = ((u.user + u.system) / 1000 / (t - this.t0)) * 100;
    this.u0 = process.cpuUsage();
    this.t0 = t;
    return pct;
  }
}
