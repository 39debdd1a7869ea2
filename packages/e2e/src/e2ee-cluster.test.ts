import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { clusterServicesMissing, clusterSuite } from '@switchboard/server/testing/cluster';
import { e2eeSdkSuite } from './e2ee-support.js';

/*
 * docs/e2ee.md with the SDK on two cluster nodes (PostgreSQL, Redis): accounts alternate
 * between the nodes, so commits, welcomes and ciphertext cross them, and the one-commit-
 * per-epoch race is decided by PostgreSQL. Afterwards every row of every table that holds
 * messages or MLS data is read as text: no plaintext sent in the suite is in it.
 */
const missing = await clusterServicesMissing();

describe('end-to-end encryption with the SDK (cluster)', { skip: missing ?? false }, () => {
  const { nodes, databaseUrl } = clusterSuite(2);
  const plaintexts = new Set<string>();
  e2eeSdkSuite(() => ({ nodes, plaintexts }));

  test('no PostgreSQL row holds any of the plaintexts', async () => {
    assert.ok(plaintexts.size >= 10);
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      const dump: string[] = [];
      for (const table of ['messages', 'chats', 'mls_key_packages', 'mls_welcomes', 'webhook_outbox']) {
        const { rows } = await client.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t`);
        dump.push(...rows.map((r) => r.t));
      }
      const all = dump.join('\n');
      assert.ok(all.includes('mls_commit'), 'the rows were read');
      for (const text of plaintexts) assert.equal(all.includes(text), false, `"${text}" is in PostgreSQL`);
    } finally {
      await client.end();
    }
  });
});
