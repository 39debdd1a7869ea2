import { describe } from 'node:test';
import pg from 'pg';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';
import { ADMIN_TOKEN, adminTests, IDLE_MS, REPORT_LIMIT } from './admin-support.js';

/* The operator's API on two real nodes (one Redis, one PostgreSQL): admin-support.ts. */
const missing = await clusterServicesMissing();

describe('operators (cluster)', { skip: missing ?? false }, () => {
  const { nodes, databaseUrl } = clusterSuite(2, {
    env: { ADMIN_TOKEN, SESSION_IDLE_MS: String(IDLE_MS), LIMIT_REPORTS: REPORT_LIMIT, PASSWORD_HASH_CONCURRENCY: '1' },
  });
  adminTests({
    a: () => nodes[0]!,
    b: () => nodes[1]!,
    sql: async (text, values = []) => {
      const db = new pg.Client({ connectionString: databaseUrl() });
      await db.connect();
      try {
        return (await db.query(text, values)).rows;
      } finally {
        await db.end();
      }
    },
  });
});
