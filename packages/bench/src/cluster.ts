import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
// pg and ioredis come with @switchboard/server (a dependency of this package); the bench
// uses them only to run the cluster's own Redis and PostgreSQL schema and read their counters.
import pg from 'pg';
import { Redis } from 'ioredis';
import { printPairs, runPairs, type CounterWindow, type PairsOptions, type PairsReport } from './pairs.js';
import { freePort, readCpuMs, readCpuMsByName, spawnServer, type SpawnOptions, type Target } from './server.js';
import { fmtInt, sleep, table } from './stats.js';

/*
 * `cluster`: K server nodes (default 3) in cluster mode on one private redis-server and a
 * fresh PostgreSQL schema, all on loopback. The `pairs` load runs unchanged, except that
 * the two users of every pair register on and connect to DIFFERENT nodes, so every message
 * crosses the bus. Around every step the bench reads Redis INFO commandstats and
 * PostgreSQL's statistics, and divides their increase by the messages delivered.
 */

export interface ClusterOptions {
  nodes: number;
  pgUrl: string;
  /** Seconds of sockets connected but idle before the steps: the background rate of Redis/PostgreSQL work. */
  baselineSeconds: number;
  pairs: PairsOptions;
}

export interface ClusterReport {
  scenario: 'cluster';
  options: ClusterOptions;
  nodes: { port: number; pid: number | null }[];
  redisPort: number;
  schema: string;
  pairs: PairsReport;
}

const CPU_REDIS = 'redis';
const CPU_PG = 'postgres';

export async function startRedis(): Promise<{ port: number; url: string; proc: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const failed = new Promise<never>((_, reject) =>
    proc.once('error', (err) => reject(new Error(`cannot start redis-server: ${err.message}`))),
  );
  failed.catch(() => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    r.on('error', () => {});
    try {
      await Promise.race([r.connect().then(() => r.ping()), failed]);
      r.disconnect();
      break;
    } catch (err) {
      r.disconnect();
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`redis-server did not start on port ${port}: ${(err as Error).message}`, { cause: err });
      await sleep(50);
    }
  }
  return {
    port,
    url,
    proc,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Sum of calls per command from INFO commandstats, without the bench's own INFO calls. */
function parseCommandStats(info: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m && m[1] !== 'info') out[`redis.${m[1]}`] = Number(m[2]);
  }
  out['redis.total'] = Object.values(out).reduce((a, b) => a + b, 0);
  return out;
}

export async function runCluster(opts: ClusterOptions, spawnOpts: SpawnOptions, log: (s: string) => void): Promise<ClusterReport> {
  const tag = randomBytes(4).toString('hex');
  const schema = `sb_bench_${tag}`;
  const admin = new pg.Client({ connectionString: opts.pgUrl, connectionTimeoutMillis: 5000 });
  await admin.connect().catch((err) => {
    throw new Error(`PostgreSQL at ${opts.pgUrl} is unreachable: ${err.message}`);
  });
  const cleanups: (() => Promise<void>)[] = [];
  let statsClient: pg.Client | null = null;
  let redisStats: Redis | null = null;
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    cleanups.push(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      log(`cluster: dropped schema ${schema}`);
      // Each run creates and drops some 200 tables and indexes. Where autovacuum is off (as
      // on the machine issue 23 was measured on), the catalogs' dead rows piled up run after
      // run and every new connection's catalog reads slowed: a warm-up's p50 grew from 8 to
      // 222 ms over ten runs. Best effort: a role that may not vacuum them skips this.
      for (const t of ['pg_class', 'pg_attribute', 'pg_depend', 'pg_type', 'pg_index', 'pg_constraint', 'pg_inherits', 'pg_attrdef'])
        await admin.query(`VACUUM pg_catalog.${t}`).catch(() => {});
    });
    const dbUrl = new URL(opts.pgUrl);
    dbUrl.searchParams.set('options', `-c search_path=${schema}`);
    log(`cluster: PostgreSQL schema ${schema} (${dbUrl.toString()})`);

    const redis = await startRedis();
    cleanups.push(async () => {
      await redis.stop();
      log(`cluster: stopped redis-server on port ${redis.port}`);
    });
    log(`cluster: redis-server pid ${redis.proc.pid} on port ${redis.port}`);

    const prefix = `sbb${tag}:`;
    // Lets the bench read each node's /metrics (send-to-ack latency, gap fills) every step.
    const metricsToken = randomBytes(16).toString('hex');
    const nodes: Target[] = [];
    const ports: number[] = [];
    const startNode = async () => {
      const port = await freePort();
      const t = await spawnServer({
        ...spawnOpts,
        port,
        env: {
          REDIS_URL: redis.url,
          DATABASE_URL: dbUrl.toString(),
          REDIS_PREFIX: prefix,
          PUBLIC_WS_URL: `ws://127.0.0.1:${port}/v1/ws`,
          METRICS_TOKEN: metricsToken,
          ...spawnOpts.env,
        },
      });
      return { t, port };
    };
    // The first node alone (it creates the tables), then the others together.
    const first = await startNode();
    const rest = await Promise.all(Array.from({ length: Math.max(0, opts.nodes - 1) }, startNode));
    for (const n of [first, ...rest]) {
      nodes.push(n.t);
      ports.push(n.port);
      cleanups.push(() => n.t.stop());
      log(`cluster: node ${nodes.length - 1}: ${n.t.describe}`);
    }
    const K = nodes.length;

    statsClient = new pg.Client({ connectionString: opts.pgUrl });
    await statsClient.connect();
    redisStats = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const sc = statsClient;
    const rs = redisStats;
    // One statement, so each reading is one transaction of the database's own xact_commit.
    const pgQuery = `SELECT d.xact_commit, d.tup_inserted, d.tup_updated, d.tup_deleted,
        pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal_bytes,
        (SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE schemaname = $1) AS s_ins,
        (SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables WHERE schemaname = $1) AS s_upd,
        (SELECT coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = $1) AS s_del
      FROM pg_stat_database d WHERE d.datname = current_database()`;
    // Read once a second, not at every 250 ms sample: a scrape costs a node about a
    // millisecond (prom-client's process metrics list /proc/self/fd), which would show in its CPU.
    let nodeRead: { at: number; values: Promise<Record<string, number>> } | null = null;
    const nodeCounters = (): Promise<Record<string, number>> => {
      if (nodeRead && performance.now() - nodeRead.at < 1000) return nodeRead.values;
      nodeRead = { at: performance.now(), values: scrapeNodes() };
      return nodeRead.values;
    };
    const scrapeNodes = async (): Promise<Record<string, number>> => {
      const texts = await Promise.all(
        nodes.map((n) =>
          fetch(`${n.baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })
            .then((r) => (r.ok ? r.text() : ''))
            .catch(() => ''),
        ),
      );
      return sumNodeMetrics(texts);
    };
    const counters = async (): Promise<Record<string, number>> => {
      const [info, res, node] = await Promise.all([rs.info('commandstats'), sc.query(pgQuery, [schema]), nodeCounters()]);
      const row = res.rows[0] ?? {};
      return {
        ...node,
        ...parseCommandStats(info),
        'pg.xact_commit': Number(row.xact_commit),
        'pg.tup_inserted': Number(row.tup_inserted),
        'pg.tup_updated': Number(row.tup_updated),
        'pg.tup_deleted': Number(row.tup_deleted),
        'pg.wal_bytes': Number(row.wal_bytes),
        'pg.schema_writes': Number(row.s_ins) + Number(row.s_upd) + Number(row.s_del),
        'pg.schema_ins': Number(row.s_ins),
      };
    };

    // Pair j: user 2j on node j mod K, user 2j+1 on node (j+1) mod K: always different nodes (K >= 2).
    const nodeOf = (i: number) => {
      const j = Math.floor(i / 2);
      return K < 2 ? 0 : (j + (i % 2)) % K;
    };
    const redisPid = redis.proc.pid ?? null;
    const report = await runPairs(nodes[0]!, opts.pairs, log, {
      baseUrlFor: (i) => nodes[nodeOf(i)]!.baseUrl,
      socketUrlFor: (i, s) => `ws://127.0.0.1:${ports[nodeOf(i)]}/v1/ws?access_token=${encodeURIComponent(s.token)}`,
      serverPids: nodes.map((n) => n.pid).filter((p): p is number => typeof p === 'number'),
      cpuSources: { [CPU_REDIS]: () => readCpuMs(redisPid), [CPU_PG]: () => readCpuMsByName('postgres') },
      counters,
      baselineSeconds: opts.baselineSeconds,
      // The SDK's socket: ?batch=1, a callback's frames in one message, reads in place of the acks they cover.
      batch: true,
    });
    return {
      scenario: 'cluster',
      options: opts,
      nodes: nodes.map((n, i) => ({ port: ports[i]!, pid: n.pid })),
      redisPort: redis.port,
      schema,
      pairs: report,
    };
  } finally {
    await statsClient?.end().catch(() => {});
    redisStats?.disconnect();
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`cluster: cleanup failed: ${(err as Error).message}`);
      }
    }
    await admin.end().catch(() => {});
  }
}

/** The nodes' send-to-ack histogram buckets and gap fills, summed over the nodes (monotonic counters). */
function sumNodeMetrics(texts: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const text of texts)
    for (const line of text.split('\n')) {
      const b = /^switchboard_send_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/.exec(line);
      if (b) out[`ack.le.${b[1]}`] = (out[`ack.le.${b[1]}`] ?? 0) + Number(b[2]);
      const g = /^switchboard_gap_fills_total (\d+)/.exec(line);
      if (g) out['node.gap_fills'] = (out['node.gap_fills'] ?? 0) + Number(g[1]);
    }
  return out;
}

/** The bucket bound (ms) at or under which 99 % of the step's acks fell, from the summed histogram's increase. */
function ackP99(w: Record<string, number>): string {
  const buckets = Object.entries(w)
    .filter(([k]) => k.startsWith('ack.le.'))
    .map(([k, v]) => [k.slice(7) === '+Inf' ? Infinity : Number(k.slice(7)) * 1000, v] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return '-';
  const hit = buckets.find(([, v]) => v >= 0.99 * total)!;
  return Number.isFinite(hit[0]) ? `≤ ${hit[0]}` : '> 2000';
}

function per(n: number, d: number, digits = 1): string {
  if (!Number.isFinite(n) || !(d > 0)) return '-';
  return (n / d).toFixed(digits);
}

function perSec(w: CounterWindow, k: string): string {
  return fmtInt((w.deltas[k] ?? NaN) / w.seconds);
}

export function printCluster(r: ClusterReport, log: (s: string) => void): void {
  const p = r.pairs;
  log('');
  log(
    `cluster: ${r.nodes.length} nodes (ports ${r.nodes.map((n) => n.port).join(', ')}), one redis-server (port ${r.redisPort}), PostgreSQL schema ${r.schema}; every pair's two users on different nodes`,
  );
  printPairs(p, log);
  log('');
  log(
    'per step, cluster resources (CPU in % of one core; "nodes" = the sum of the server processes; per msg = increase over the step window / messages delivered in it):',
  );
  const rows = [
    [
      'step',
      'delivered/s',
      'nodes CPU%',
      'CPU/node',
      'redis CPU%',
      'pg CPU%',
      'redis cmd/msg',
      'pg commits/msg',
      'pg rows/msg',
      'WAL B/msg',
      'ack p99 ms',
      'gap fills',
    ],
  ];
  for (const s of p.steps) {
    const d = s.delivered;
    rows.push([
      s.label,
      fmtInt(s.deliveredRate),
      Number.isFinite(s.serverCpuPct) ? s.serverCpuPct.toFixed(0) : '-',
      Number.isFinite(s.serverCpuPct) ? (s.serverCpuPct / r.nodes.length).toFixed(0) : '-',
      Number.isFinite(s.extraCpuPct[CPU_REDIS] ?? NaN) ? s.extraCpuPct[CPU_REDIS]!.toFixed(0) : '-',
      Number.isFinite(s.extraCpuPct[CPU_PG] ?? NaN) ? s.extraCpuPct[CPU_PG]!.toFixed(0) : '-',
      per(s.counters['redis.total'] ?? NaN, d),
      per(s.counters['pg.xact_commit'] ?? NaN, d, 2),
      per(s.counters['pg.schema_writes'] ?? NaN, d, 2),
      per(s.counters['pg.wal_bytes'] ?? NaN, d, 0),
      ackP99(s.counters),
      fmtInt(s.counters['node.gap_fills'] ?? NaN),
    ]);
  }
  log(table(rows));
  log(
    '("ack p99 ms" = the bucket of the nodes\' send-to-ack histogram that holds 99 % of the step\'s acks; "pg rows/msg" = rows inserted+updated+deleted in the bench schema (pg_stat_user_tables); "pg commits/msg" = pg_stat_database.xact_commit of the whole database and WAL bytes of the whole server, so other users of that PostgreSQL inflate them; PostgreSQL publishes its statistics about once a second, so per-step PostgreSQL figures are ±1 s worth)',
  );
  const w = p.whole;
  if (w && w.delivered > 0) {
    log('');
    log(`whole run (steps after warm-up, ${w.seconds.toFixed(0)} s, ${fmtInt(w.delivered)} messages delivered):`);
    log(`  Redis: ${per(w.deltas['redis.total'] ?? NaN, w.delivered)} commands per message`);
    const cmds = Object.entries(w.deltas)
      .filter(([k, v]) => k.startsWith('redis.') && k !== 'redis.total' && v > 0)
      .sort((a, b) => b[1] - a[1]);
    log(`    by command (per message): ${cmds.map(([k, v]) => `${k.slice(6)} ${(v / w.delivered).toFixed(2)}`).join(', ') || 'none'}`);
    log(
      `  PostgreSQL: ${per(w.deltas['pg.xact_commit'] ?? NaN, w.delivered, 2)} commits, ${per(w.deltas['pg.schema_ins'] ?? NaN, w.delivered, 2)} rows inserted, ` +
        `${per(w.deltas['pg.schema_writes'] ?? NaN, w.delivered, 2)} rows written (ins+upd+del), ${per(w.deltas['pg.wal_bytes'] ?? NaN, w.delivered, 0)} WAL bytes per message`,
    );
  }
  const b = p.baseline;
  if (b) {
    log(
      `background with ${fmtInt(p.options.pairs * 2)} sockets connected and idle (${b.seconds.toFixed(0)} s): Redis ${perSec(b, 'redis.total')} commands/s, ` +
        `PostgreSQL ${perSec(b, 'pg.xact_commit')} commits/s, ${perSec(b, 'pg.schema_writes')} rows written/s`,
    );
  }
}
