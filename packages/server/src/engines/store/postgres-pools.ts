import pg from 'pg';

/*
 * The cluster store's connections (moved out of postgres-store.ts): three pools, one for
 * reads and the rarer writes, one for appends, one for cursor moves, each with its bounds,
 * and what every connection gets (bigint as number, statements prepared once).
 */

/** Connections per node for reads and the rarer writes (accounts, devices, membership). */
const POOL_SIZE = 10;
/**
 * Bounds on one statement and on waiting for a connection (ms): a slow query (a search
 * over a huge chat) fails instead of holding a connection of the pool forever, and a
 * request that cannot get a connection fails instead of queueing without end. Writes
 * get longer: a batch of 1,000 appends is one statement. Migrations run without a bound.
 */
export const READ_STATEMENT_TIMEOUT_MS = 10_000;
const WRITE_STATEMENT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** Appends get connections of their own (two batches of different chats run at a time; the third covers a reconnect). */
const APPEND_POOL_SIZE = 3;
/** Cursor writes get a pool of their own, whose sessions commit without waiting for the WAL flush. */
const CURSOR_POOL_SIZE = 2;
/**
 * The batch statements' plans do not depend on their parameters (arrays of any length),
 * yet PostgreSQL would re-plan them per call while it weighs custom plans: planning cost
 * about as much CPU as running them.
 */
const GENERIC_PLANS = '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off';
/**
 * Write connections are replaced this often (seconds), so their generic plans are made
 * again with the tables' current statistics; seqscans are off on them for the same reason
 * (these statements only ever look rows up by key).
 */
const WRITE_CONNECTION_LIFETIME_S = 600;

const INT8_OID = 20;
/**
 * bigint columns (seqs, millisecond times, counts) as JS numbers: all stay far below
 * 2^53. Set per pool, not on the global pg.types, so other pg users are unaffected.
 */
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface Pools {
  /** Reads and the rarer writes (accounts, devices, membership). */
  pool: pg.Pool;
  appendPool: pg.Pool;
  cursorPool: pg.Pool;
}

/** The three pools for one connection string; connections are made as they are needed. */
export function openPools(connectionString: string): Pools {
  const pool = new pg.Pool({
    connectionString,
    max: POOL_SIZE,
    types: pgTypes,
    statement_timeout: READ_STATEMENT_TIMEOUT_MS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  const appendPool = new pg.Pool({
    ...withOptions(connectionString, GENERIC_PLANS),
    max: APPEND_POOL_SIZE,
    statement_timeout: WRITE_STATEMENT_TIMEOUT_MS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    maxLifetimeSeconds: WRITE_CONNECTION_LIFETIME_S,
    types: pgTypes,
  });
  const cursorPool = new pg.Pool({
    ...withOptions(connectionString, `${GENERIC_PLANS} -c synchronous_commit=off`),
    max: CURSOR_POOL_SIZE,
    statement_timeout: WRITE_STATEMENT_TIMEOUT_MS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    maxLifetimeSeconds: WRITE_CONNECTION_LIFETIME_S,
    types: pgTypes,
  });
  for (const p of [pool, appendPool, cursorPool]) {
    p.on('connect', preparePerConnection);
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    p.on('error', () => undefined);
  }
  return { pool, appendPool, cursorPool };
}

/**
 * Pool settings with server options added to the connection's `options`, kept with
 * whatever a URL set there already (e.g. search_path). A string that is not a URL (a
 * socket path) gets them as the `options` setting.
 */
function withOptions(connectionString: string, options: string): { connectionString: string; options?: string } {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return { connectionString, options };
  }
  const current = url.searchParams.get('options');
  url.searchParams.set('options', current ? `${current} ${options}` : options);
  return { connectionString: url.toString() };
}

/**
 * Makes every parameterised query a named prepared statement on its connection, so
 * PostgreSQL parses and plans each of this store's (few, fixed) statements once per
 * connection instead of on every call: most of its CPU per message went there.
 * Queries without parameters (BEGIN, COMMIT, savepoints) are sent as they are.
 */
function preparePerConnection(client: pg.PoolClient): void {
  const names = new Map<string, string>();
  const plain = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values, callback] = args; // pool.query passes a callback as the third
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0 && (args.length === 2 || typeof callback === 'function')) {
      let name = names.get(text);
      if (!name) names.set(text, (name = `sb_${names.size}`));
      return args.length === 2 ? plain({ name, text, values }) : plain({ name, text, values }, callback);
    }
    return plain(...args);
  };
}
