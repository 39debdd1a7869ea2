#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { printIdle, runIdle, type IdleOptions } from './idle.js';
import { printPairs, runPairs, type GenMode, type PairsOptions } from './pairs.js';
import { attachServer, spawnServer, type Target } from './server.js';

/*
 * `npm run bench -- [scenario] [flags]`: scenario is pairs, idle or all (default: pairs
 * then idle with modest settings, a fresh server for each). Each scenario spawns the real
 * server (`switchboard serve`, fresh DATA_DIR) as a child process unless --url is given.
 */

const HELP = `usage: npm run bench -- [pairs|idle|all|group|cluster] [flags]

target:
  --url URL             bench a running server instead of spawning one
  --pid PID             with --url: the server's pid, to read its CPU and RSS
  --node-args=ARGS      node flags for the spawned server, e.g. --node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
  --server-env K=V      extra environment for the spawned server (repeatable)
  --keep-data           keep the spawned server's DATA_DIR
  --server-log          show the spawned server's stdout
  --json FILE           also write the figures as JSON

pairs:
  --pairs N             pairs of users (default 50)
  --rates LIST          aggregate msg/s per step (default 2000,5000,10000,15000,20000)
  --step-seconds S      seconds per step (default 5)
  --warmup-rate R       warm-up step rate, not judged (default 1000; 0 = none)
  --warmup-seconds S    (default 3)
  --size BYTES          content padding per message (default 64)
  --gen MODE            load generator: worker (default), process or inline
  --generators K        worker threads / processes sharing the pairs (default 1)
  --read-interval MS    ack_read per chat every MS (default 100)
  --no-receipts         receivers send no ack_delivered / ack_read (to see what receipts cost)
  --drain S             seconds to wait for stragglers after the last step (default 15)
  --max-backlog S       stop stepping once S seconds' worth of messages are outstanding (default 3)

idle:
  --sockets M           idle authenticated sockets (default 5000)
  --users U             users whose sessions they share (default 250)
  --devices D           sessions per user (default 1)
  --per-process N       sockets per client process, each from its own 127.0.0.x (default 8000)
  --concurrency C       handshakes in flight per client process (default 100)
  --settle S            seconds after connecting before reading RSS (default 3)
  --hold S              seconds of idleness to measure server CPU (default 12)
`;

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    help: { type: 'boolean', short: 'h' },
    url: { type: 'string' },
    pid: { type: 'string' },
    'node-args': { type: 'string' },
    'server-env': { type: 'string', multiple: true },
    'keep-data': { type: 'boolean' },
    'server-log': { type: 'boolean' },
    json: { type: 'string' },
    pairs: { type: 'string' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    'warmup-rate': { type: 'string' },
    'warmup-seconds': { type: 'string' },
    size: { type: 'string' },
    gen: { type: 'string' },
    generators: { type: 'string' },
    'read-interval': { type: 'string' },
    'no-receipts': { type: 'boolean' },
    drain: { type: 'string' },
    'max-backlog': { type: 'string' },
    sockets: { type: 'string' },
    users: { type: 'string' },
    devices: { type: 'string' },
    'per-process': { type: 'string' },
    concurrency: { type: 'string' },
    settle: { type: 'string' },
    hold: { type: 'string' },
  },
});

function num(name: keyof typeof v, dflt: number): number {
  const raw = v[name];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${String(name)} must be a non-negative number, got ${String(raw)}`);
  return n;
}

const log = (s: string) => console.log(s);

function pairsOptions(): PairsOptions {
  const gen = (v.gen ?? 'worker') as GenMode;
  if (!['worker', 'process', 'inline'].includes(gen)) throw new Error('--gen must be worker, process or inline');
  return {
    pairs: num('pairs', 50),
    rates: (v.rates ?? '2000,5000,10000,15000,20000').split(',').map((x) => {
      const n = Number(x.trim());
      if (!(n > 0)) throw new Error(`bad rate in --rates: ${x}`);
      return n;
    }),
    stepSeconds: num('step-seconds', 5),
    warmupRate: num('warmup-rate', 1000),
    warmupSeconds: num('warmup-seconds', 3),
    contentBytes: num('size', 64),
    gen,
    generators: num('generators', 1),
    readIntervalMs: num('read-interval', 100),
    receipts: !v['no-receipts'],
    drainMs: num('drain', 15) * 1000,
    maxBacklogSeconds: num('max-backlog', 3),
  };
}

function idleOptions(): IdleOptions {
  return {
    sockets: num('sockets', 5000),
    users: num('users', 250),
    devices: Math.max(1, num('devices', 1)),
    perProcess: Math.max(1, num('per-process', 8000)),
    concurrency: Math.max(1, num('concurrency', 100)),
    settleSeconds: num('settle', 3),
    holdSeconds: num('hold', 12),
  };
}

async function withTarget<T>(fn: (t: Target) => Promise<T>): Promise<T> {
  const target = v.url
    ? await attachServer(v.url, v.pid ? Number(v.pid) : null)
    : await spawnServer({
        nodeArgs: v['node-args'] ? v['node-args'].split(/\s+/).filter(Boolean) : [],
        env: Object.fromEntries((v['server-env'] ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
        keepData: !!v['keep-data'],
        quiet: !v['server-log'],
      });
  log(`server: ${target.describe}`);
  try {
    return await fn(target);
  } finally {
    await target.stop();
  }
}

class NotImplemented extends Error {}

type Scenario = { describe: string; run: () => Promise<unknown> };

const scenarios: Record<string, Scenario> = {
  pairs: {
    describe: 'N pairs of users messaging each other, open-loop rate steps, receipts on unless --no-receipts',
    run: () =>
      withTarget(async (t) => {
        const r = await runPairs(t, pairsOptions(), log);
        printPairs(r, log);
        return r;
      }),
  },
  idle: {
    describe: 'M idle authenticated sockets: server memory per socket',
    run: () =>
      withTarget(async (t) => {
        const r = await runIdle(t, idleOptions(), log);
        printIdle(r, log);
        return r;
      }),
  },
  // Hook: a 1,024-member group (POST /v1/groups, every member online; fan-out latency and
  // throughput per message). Not implemented yet; see docs/BENCHMARKS.md.
  group: {
    describe: 'a 1,024-member group: fan-out latency (not implemented yet)',
    run: async () => {
      throw new NotImplemented('the group scenario is not implemented yet (hook in packages/bench/src/main.ts)');
    },
  },
  // Hook: cluster mode (REDIS_URL + DATABASE_URL, several nodes, clients spread by ws_url).
  // Not implemented yet.
  cluster: {
    describe: 'several server nodes on Redis + PostgreSQL (not implemented yet)',
    run: async () => {
      throw new NotImplemented('the cluster scenario is not implemented yet (hook in packages/bench/src/main.ts)');
    },
  },
};

async function main(): Promise<void> {
  if (v.help) {
    process.stdout.write(HELP);
    return;
  }
  const name = positionals[0] ?? 'all';
  const order = name === 'all' ? ['pairs', 'idle'] : [name];
  for (const n of order) if (!scenarios[n]) throw new Error(`unknown scenario "${n}"; one of: all, ${Object.keys(scenarios).join(', ')}`);

  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  const args = process.argv.slice(2).map(quote);
  const cpus = os.cpus();
  log(`command: npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`);
  log(`machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`);
  log(`started: ${new Date().toISOString()}`);
  const results: unknown[] = [];
  for (const n of order) {
    log('');
    log(`=== ${n}: ${scenarios[n]!.describe}`);
    results.push(await scenarios[n]!.run());
  }
  if (v.json) {
    writeFileSync(v.json, JSON.stringify({ command: `npm run bench -- ${args.join(' ')}`, at: new Date().toISOString(), node: process.version, cpus: cpus.length, results }, (_k, val) => (val instanceof Float64Array ? undefined : val), 2));
    log(`figures written to ${v.json}`);
  }
}

main().catch((err) => {
  if (err instanceof NotImplemented) {
    console.error(`bench: ${err.message}`);
    process.exit(2);
  }
  console.error(`bench: ${err?.stack ?? err}`);
  process.exit(1);
});
