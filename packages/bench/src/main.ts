#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { printCluster, runCluster, type ClusterOptions } from './cluster.js';
import { printCompare, REFERENCE_SYSTEMS, runCompare, SYSTEMS, type CompareOptions, type SystemName } from './compare.js';
import { printGroup, runGroup, type GroupOptions } from './group.js';
import { printIdle, runIdle, type IdleOptions } from './idle.js';
import { printMedia, runMedia } from './media.js';
import { printFuzz, runFuzz } from './fuzz.js';
import { printMediaBombs, runMediaBombs } from './media-bombs.js';
import { printHistory, runHistory } from './history.js';
import { printRetentionBench, runRetentionBench } from './retention.js';
import { printEvents, runEvents, type EventsTransport } from './events.js';
import { printE2ee, runE2eeBench } from './e2ee.js';
import { autoGenerators, printPairs, runPairs, type GenMode, type PairsOptions } from './pairs.js';
import { writeCharts, writeGroupChart, writeIdleChart } from './charts.js';
import { attachServer, spawnServer, type SpawnOptions, type Target } from './server.js';
import { describeWakeupCost, probeWakeupCost } from './wakeup-probe.js';

/*
 * `npm run bench -- [scenario] [flags]`: scenario is one of HELP's list, or all (default: pairs
 * then idle with modest settings, a fresh server for each). Each scenario spawns the real
 * server (`switchboard serve`, fresh DATA_DIR) as a child process unless --url is given.
 */

const HELP = `usage: npm run bench -- [pairs|idle|all|group|cluster|compare|media|media-bombs|history|retention|events|e2ee|fuzz] [flags]

target:
  --url URL             bench a running server instead of spawning one
  --pid PID             with --url: the server's pid, to read its CPU and RSS
  --node-args=ARGS      node flags for the spawned server, e.g. --node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
  --server-env K=V      extra environment for the spawned server (repeatable)
  --keep-data           keep the spawned server's DATA_DIR
  --server-log          show the spawned server's stdout
  --json FILE           also write the figures as JSON
  --charts DIR          compare, group, idle: also draw the figures as SVG charts into DIR (e.g. docs/bench)

pairs:
  --pairs N             pairs of users (default 50)
  --rates LIST          aggregate msg/s per step (default 2000,5000,10000,15000,20000)
  --step-seconds S      seconds per step (default 5)
  --warmup-rate R       warm-up step rate, not judged (default 1000; 0 = none)
  --warmup-seconds S    (default 3; longer when needed for every socket to send its first burst)
  --size BYTES          content padding per message (default 64)
  --gen MODE            load generator: worker (default), process or inline
  --generators K        worker threads / processes sharing the pairs (default: one per 40,000 msg/s of
                        the fastest step, leaving one core to the server: one on two cores)
  --read-interval MS    ack_read per chat every MS (default 100)
  --receipt-grace MS    a due receipt waits up to MS (and one send interval of its socket) to go in the
                        same write as that socket's next send (default 50; 0 = receipts never wait)
  --no-receipts         receivers send no ack_delivered / ack_read (to see what receipts cost)
  --burst K             each socket sends K messages at one scheduled instant, every K of its intervals
                        (same rates; latency from that instant): the server reads K frames a read (default 1)
  --partners-apart      each pair's two users send half a round apart, instead of one right after
                        the other (within a millisecond, always: with the users on two nodes, both
                        nodes want the chat's row at once, and one carries its sends past the lock)
  --gen-spin            generator threads poll instead of sleeping while the steps run: no wake-ups,
                        but each takes a whole core (for single-process servers on 2 cores)
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

group:
  --members M           group size, creator included (default 1024, the protocol's maximum)
  --rate R              group messages/s sent by the creator (default 10)
  --rates LIST          several rates, one after the other, e.g. 10,50,100 (overrides --rate)
  --step-seconds S      seconds of sending per rate (default 10)
  --generators K        worker threads holding the member sockets (default 2)
  --ack-delay MS        members' ack window: at most one ack_delivered per socket per MS (default 100, the SDK's)
  --read-interval MS    members also send ack_read of the latest message every MS (default 0: no reads)
  --no-receipts         members send no ack_delivered
  --size BYTES          content padding (default 64)
  --drain S             seconds to wait for the last member after each rate (default 30)
  --warmup-seconds S    send at the first rate for S seconds first, shown as "warm-up", not judged (default 2; 0 = none)
  --pause S             idle seconds between rates (default 2)

fuzz (random and mutated frames and HTTP requests at a live server; exits 1 on any crash or error):
  --throws N            frames and requests to throw (default 100000)
  --seed S              fast-check seed (default: the time)
  --fuzz-sockets K      fuzzing sockets at once (default 4)
  --http-share F        share of throws that are HTTP requests (default 0.1)

cluster (the pairs flags apply; defaults differ):
  --nodes K             server nodes (default 2; every pair's two users on different nodes) on one private redis-server and a fresh PostgreSQL schema
  --pg-url URL          PostgreSQL to use (default $DATABASE_URL or postgres://postgres@127.0.0.1:5432/test)
  --baseline S          seconds with the sockets connected but idle before the steps (default 5)
  --pairs N             (default 200)   --rates LIST (default 1000,1500,2000,2500,3000,4000)   --step-seconds S (default 8)
  --warmup-rate R       (default 1000)   --warmup-seconds S (default 5)

compare (the pairs flags apply; defaults differ): Switchboard beside a bare ws relay and Socket.IO, same generator, fresh server each
  --systems LIST        any of ws,socketio,socketio-2,switchboard,cluster-2 (default all five); ws and
                        socketio always run (first): their knees are the reference line
  --p99 MS              pass rule: p99 send-to-receive at most MS (default 50)
  --pairs N             (default 500)   --rates LIST (default 2000,4000,...,25000,30000,40000,50000,60000)   --step-seconds S (default 5)
media:
  --clients C           clients uploading, then downloading, one file each, all at once (default 20)
  --file-mb MB          file size in MB (10^6 bytes; default 50)
media-bombs (decode bombs: server RSS; fetch time of a file carried by many messages):
  --bombs N             7070 x 7070 16-bit interlaced PNGs, sent four to a message (default 8)
  --refs R              messages carrying one file (default 1000, MEDIA_MAX_REFS' default)
  --fetches F           timed GET /v1/media per caller (default 200)
retention (the pairs flags apply; defaults: --pairs 50 --rates 1000 --step-seconds 60): sends while retention erases a backlog
  --rows R              messages seeded 60 days old, erased by RETENTION_DAYS=30 during the step (default 1000000)
  --chats C             direct chats they are spread over (default 1000)
  --erase-wait S        after the step, wait at most S seconds for the whole backlog to go (default 600)
  (--server-env applies to both runs, e.g. --server-env RETENTION_BATCH=500)
history (history paging of a plain chat beside one with edits and reactions):
  --messages M          messages in each chat (default 10000)
  --edited F            share of the busy chat's messages edited (default 0.2)
  --reactions R         reactions in the busy chat (default 50000)
  --members N           group members, every one writing (default 10)
  --rounds K            times every page of each chat is read (default 5)
events (delivery latency over the WebSocket, Server-Sent Events and long polling, same load):
  --pairs N             pairs, one user on the transport under test, one on a WebSocket (default 20)
  --rate R              messages/s each side of a pair sends (default 5)
  --step-seconds S      seconds of sending per transport (default 10)
  --transports LIST     any of websocket,sse,long-poll (default all three)
e2ee (MLS through the SDK: commit, Welcome and GroupInfo sizes and times per group size, then encrypted beside plaintext 1:1 latency; a fresh server each):
  --sizes LIST          group sizes, creator included (default 10,100,1024)
  --joiners K           members that join by the Welcome, one at a time (default: all when N <= 101, else 3)
  --pairs K             encrypted direct chats, and as many plaintext ones (default 20; 0: groups only)
  --rate R              messages/s in all, per kind of chat (default 100)
  --seconds S           seconds of sending per kind (default 10)
  --size BYTES          text padding (default 64)
  --quiet-messages Q    then one message at a time, for the CPU of one encrypt and one decrypt (default 200)
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
    'receipt-grace': { type: 'string' },
    'partners-apart': { type: 'boolean' },
    'no-receipts': { type: 'boolean' },
    burst: { type: 'string' },
    'gen-spin': { type: 'boolean' },
    drain: { type: 'string' },
    'max-backlog': { type: 'string' },
    sockets: { type: 'string' },
    users: { type: 'string' },
    devices: { type: 'string' },
    'per-process': { type: 'string' },
    concurrency: { type: 'string' },
    settle: { type: 'string' },
    hold: { type: 'string' },
    members: { type: 'string' },
    rate: { type: 'string' },
    'ack-delay': { type: 'string' },
    pause: { type: 'string' },
    nodes: { type: 'string' },
    'pg-url': { type: 'string' },
    baseline: { type: 'string' },
    systems: { type: 'string' },
    p99: { type: 'string' },
    charts: { type: 'string' },
    clients: { type: 'string' },
    'file-mb': { type: 'string' },
    throws: { type: 'string' },
    seed: { type: 'string' },
    'fuzz-sockets': { type: 'string' },
    'http-share': { type: 'string' },
    bombs: { type: 'string' },
    rows: { type: 'string' },
    'erase-wait': { type: 'string' },
    chats: { type: 'string' },
    refs: { type: 'string' },
    fetches: { type: 'string' },
    messages: { type: 'string' },
    edited: { type: 'string' },
    reactions: { type: 'string' },
    rounds: { type: 'string' },
    transports: { type: 'string' },
    sizes: { type: 'string' },
    joiners: { type: 'string' },
    seconds: { type: 'string' },
    'quiet-messages': { type: 'string' },
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

function rateList(raw: string): number[] {
  return raw.split(',').map((x) => {
    const n = Number(x.trim());
    if (!(n > 0)) throw new Error(`bad rate in --rates: ${x}`);
    return n;
  });
}

function pairsOptions(
  d: { pairs: number; rates: string; stepSeconds: number; warmupRate: number; warmupSeconds?: number } = {
    pairs: 50,
    rates: '2000,5000,10000,15000,20000',
    stepSeconds: 5,
    warmupRate: 1000,
  },
): PairsOptions {
  const gen = (v.gen ?? 'worker') as GenMode;
  if (!['worker', 'process', 'inline'].includes(gen)) throw new Error('--gen must be worker, process or inline');
  const rates = rateList(v.rates ?? d.rates);
  return {
    pairs: num('pairs', d.pairs),
    rates,
    stepSeconds: num('step-seconds', d.stepSeconds),
    warmupRate: num('warmup-rate', d.warmupRate),
    warmupSeconds: num('warmup-seconds', d.warmupSeconds ?? 3),
    contentBytes: num('size', 64),
    gen,
    generators: v.generators ? Math.max(1, num('generators', 1)) : autoGenerators(Math.max(...rates, num('warmup-rate', d.warmupRate))),
    readIntervalMs: num('read-interval', 100),
    receiptGraceMs: num('receipt-grace', 50),
    receipts: !v['no-receipts'],
    burst: Math.max(1, num('burst', 1)),
    partnersApart: !!v['partners-apart'],
    spin: !!v['gen-spin'],
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

function groupOptions(): GroupOptions {
  const members = num('members', 1024);
  if (members < 2 || members > 1024) throw new Error('--members must be 2..1024 (the protocol caps a group at 1,024)');
  return {
    members,
    rates: v.rates ? rateList(v.rates) : [num('rate', 10)],
    stepSeconds: num('step-seconds', 10),
    contentBytes: num('size', 64),
    generators: Math.max(1, num('generators', 2)),
    receipts: !v['no-receipts'],
    ackDelayMs: num('ack-delay', 0),
    readIntervalMs: v['read-interval'] === undefined ? 0 : num('read-interval', 0),
    drainMs: num('drain', 30) * 1000,
    pauseMs: num('pause', 2) * 1000,
    warmupSeconds: num('warmup-seconds', 2),
  };
}

function clusterOptions(): ClusterOptions {
  if (v.url) throw new Error('cluster spawns its own nodes; --url does not apply');
  return {
    nodes: Math.max(2, num('nodes', 2)),
    pgUrl: v['pg-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    baselineSeconds: num('baseline', 5),
    // The warm-up sends every pair's first messages (chat creation, first reads per socket) before the judged steps.
    pairs: pairsOptions({ pairs: 200, rates: '1000,1500,2000,2500,3000,4000', stepSeconds: 8, warmupRate: 1000, warmupSeconds: 5 }),
  };
}

function compareOptions(): CompareOptions {
  if (v.url) throw new Error('compare spawns every system itself; --url does not apply');
  const asked = (v.systems ?? SYSTEMS.join(',')).split(',').map((x) => x.trim()) as SystemName[];
  for (const s of asked) if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s}; one of ${SYSTEMS.join(', ')}`);
  // The reference relays run in every compare, first: the line that says whether the generator kept up.
  const systems = [...REFERENCE_SYSTEMS, ...asked.filter((s) => !REFERENCE_SYSTEMS.includes(s))];
  return {
    systems,
    pgUrl: v['pg-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    p99LimitMs: num('p99', 50),
    pairs: pairsOptions({
      pairs: 500,
      rates: '2000,4000,6000,8000,10000,15000,20000,25000,30000,40000,50000,60000',
      stepSeconds: 5,
      warmupRate: 1000,
    }),
  };
}

function spawnOptions(): SpawnOptions {
  return {
    nodeArgs: v['node-args'] ? v['node-args'].split(/\s+/).filter(Boolean) : [],
    env: Object.fromEntries((v['server-env'] ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    keepData: !!v['keep-data'],
    quiet: !v['server-log'],
  };
}

async function withTarget<T>(fn: (t: Target) => Promise<T>): Promise<T> {
  const target = v.url ? await attachServer(v.url, v.pid ? Number(v.pid) : null) : await spawnServer(spawnOptions());
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
        const r = await runPairs(t, pairsOptions(), log, { batch: true });
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
        if (v.charts) for (const f of await writeIdleChart(r, v.charts)) log(`chart: ${f}`);
        return r;
      }),
  },
  group: {
    describe:
      'one group of up to 1,024 members, all online, the creator sending at set rates: fan-out latency to the first and the last member',
    run: () =>
      withTarget(async (t) => {
        const r = await runGroup(t, groupOptions(), log);
        printGroup(r, log);
        if (v.charts) for (const f of await writeGroupChart(r, v.charts)) log(`chart: ${f}`);
        return r;
      }),
  },
  compare: {
    describe:
      'Switchboard (embedded, 2-node cluster) beside a bare ws relay and Socket.IO (1 process, 2 on Redis): same load, knee and CPU per message',
    run: async () => {
      const r = await runCompare(compareOptions(), spawnOptions(), log);
      printCompare(r, log);
      if (v.charts) for (const f of await writeCharts(r, v.charts)) log(`chart: ${f}`);
      return r;
    },
  },
  media: {
    describe: 'C clients upload a file each at once, send it on, and the recipients download it at once: MB/s and server RSS',
    run: () =>
      withTarget(async (t) => {
        const r = await runMedia(t, { clients: Math.max(1, num('clients', 20)), fileBytes: Math.round(num('file-mb', 50) * 1e6) }, log);
        printMedia(r, log);
        return r;
      }),
  },
  'media-bombs': {
    describe: 'decode-bomb PNGs sent four to a message (server RSS), then one file carried by R messages (GET /v1/media time)',
    run: () =>
      withTarget(async (t) => {
        const r = await runMediaBombs(
          t,
          { bombs: Math.max(1, num('bombs', 8)), refs: Math.max(1, num('refs', 1000)), fetches: Math.max(1, num('fetches', 200)) },
          log,
        );
        printMediaBombs(r, log);
        return r;
      }),
  },
  history: {
    describe: 'history paging: a plain chat beside one of the same size with edits and reactions (issue 20)',
    run: () =>
      withTarget(async (t) => {
        const r = await runHistory(
          t,
          {
            messages: Math.max(1, num('messages', 10_000)),
            editedShare: Math.min(1, num('edited', 0.2)),
            reactions: num('reactions', 50_000),
            members: Math.max(2, num('members', 10)),
            rounds: Math.max(1, num('rounds', 5)),
          },
          log,
        );
        printHistory(r, log);
        return r;
      }),
  },
  retention: {
    describe:
      'send latency at a fixed rate while retention erases a large backlog of expired messages, beside a run without retention (issue 24)',
    run: async () => {
      if (v.url) throw new Error('retention seeds and spawns its own server; --url does not apply');
      const r = await runRetentionBench(
        spawnOptions(),
        {
          rows: Math.max(1, num('rows', 1_000_000)),
          eraseWaitSeconds: Math.max(0, num('erase-wait', 600)),
          chats: Math.max(1, num('chats', 1000)),
          pairs: pairsOptions({ pairs: 50, rates: '1000', stepSeconds: 60, warmupRate: 1000 }),
          serverEnv: {},
        },
        log,
      );
      printRetentionBench(r, log);
      return r;
    },
  },
  events: {
    describe: 'delivery latency over the WebSocket, Server-Sent Events and long polling (GET /v1/events), same load (issue 24)',
    run: async () => {
      const opts = spawnOptions();
      // The latency of the transports, not of the limits: off, as for load tests.
      opts.env = { RATE_LIMITS: 'off', ...opts.env };
      const target = v.url ? await attachServer(v.url, v.pid ? Number(v.pid) : null) : await spawnServer(opts);
      log(`server: ${target.describe}`);
      try {
        const transports = (v.transports ?? 'websocket,sse,long-poll').split(',').map((t) => t.trim()) as EventsTransport[];
        for (const t of transports) if (!['websocket', 'sse', 'long-poll'].includes(t)) throw new Error(`unknown transport ${t}`);
        const r = await runEvents(
          target,
          {
            pairs: num('pairs', 20),
            rate: Math.max(0.1, num('rate', 5)),
            seconds: Math.max(1, num('step-seconds', 10)),
            transports,
          },
          log,
        );
        printEvents(r, log);
        return r;
      } finally {
        await target.stop();
      }
    },
  },
  e2ee: {
    describe:
      'end-to-end encryption (MLS, SDK): commit, Welcome and GroupInfo sizes and times for groups of N; encrypted vs plaintext 1:1 send->receive',
    run: async () => {
      if (v.url) throw new Error('e2ee spawns a fresh server per group size; --url does not apply');
      const sizes = (v.sizes ?? '10,100,1024').split(',').map((x) => {
        const n = Number(x.trim());
        if (!Number.isInteger(n) || n < 3 || n > 1024) throw new Error(`--sizes: ${x} is not a group size in 3..1024`);
        return n;
      });
      const r = await runE2eeBench(
        {
          sizes,
          joiners: v.joiners === undefined ? null : Math.max(1, num('joiners', 3)),
          pairs: num('pairs', 20),
          rate: Math.max(0.1, num('rate', 100)),
          seconds: Math.max(1, num('seconds', 10)),
          contentBytes: num('size', 64),
          quietMessages: Math.max(1, num('quiet-messages', 200)),
        },
        spawnOptions(),
        log,
      );
      printE2ee(r, log);
      return r;
    },
  },
  fuzz: {
    describe: 'random and mutated frames and HTTP requests (fast-check) at a live server while two other users keep messaging',
    run: async () => {
      const opts = spawnOptions();
      // Per-client limits would answer most throws with rate_limited: off, as for load tests.
      opts.env = { RATE_LIMITS: 'off', ...opts.env };
      const target = v.url ? await attachServer(v.url, v.pid ? Number(v.pid) : null) : await spawnServer(opts);
      log(`server: ${target.describe}`);
      try {
        const pid = target.pid;
        const r = await runFuzz({
          baseUrl: target.baseUrl,
          throws: num('throws', 100_000),
          seed: num('seed', Date.now() % 1_000_000_000),
          sockets: Math.max(1, num('fuzz-sockets', 4)),
          httpShare: Math.min(1, num('http-share', 0.1)),
          alive: async () => {
            if (pid === null) return true;
            try {
              process.kill(pid, 0);
              return true;
            } catch {
              return false;
            }
          },
          log,
        });
        printFuzz(r, log);
        if (r.crashes > 0 || r.errors.length > 0) process.exitCode = 1;
        return r;
      } finally {
        await target.stop();
      }
    },
  },
  cluster: {
    describe: 'pairs across nodes: K server nodes on one Redis + one PostgreSQL schema, the two users of each pair on different nodes',
    run: async () => {
      const r = await runCluster(clusterOptions(), spawnOptions(), log);
      printCluster(r, log);
      return r;
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
  log(
    `machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`,
  );
  log(`machine: ${describeWakeupCost(await probeWakeupCost())}`);
  log(`started: ${new Date().toISOString()}`);
  const results: unknown[] = [];
  for (const n of order) {
    log('');
    log(`=== ${n}: ${scenarios[n]!.describe}`);
    results.push(await scenarios[n]!.run());
  }
  if (v.json) {
    writeFileSync(
      v.json,
      JSON.stringify(
        { command: `npm run bench -- ${args.join(' ')}`, at: new Date().toISOString(), node: process.version, cpus: cpus.length, results },
        (_k, val) => (val instanceof Float64Array ? undefined : val),
        2,
      ),
    );
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
