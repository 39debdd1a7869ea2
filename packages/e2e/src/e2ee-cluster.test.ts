import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { clusterServicesMissing, clusterSuite } from '@switchboard/server/testing/cluster';
import { e2eeSdkSuite } from './e2ee-support.js';

/*
 * docs/e2ee.md with the SDK on two cluster nodes (PostgreSQL, Redis): accounts alternate
 * between the nodes, so commits, welcomes and ciphertext cross them, and the one-commit-
 * per-epoch race is decided by PostgreSQL. Afterwards every row of every table that holds
 * messages or MLS data is read as text: no plaintext sent in the suite is in it. Media
 * bytes live in PostgreSQL too (a cluster without S3: media_blobs, media_blob_chunks),
 * where the suite alters them.
 */
const missing = await clusterServicesMissing();

describe('end-to-end encryption with the SDK (cluster)', { skip: missing ?? false }, () => {
  const { nodes, databaseUrl } = clusterSuite(2);
  const plaintexts = new Set<string>();
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  e2eeSdkSuite(() => ({
    nodes,
    plaintexts,
    media: {
      tamper: async (id) => {
        await query(
          `UPDATE media_blob_chunks SET data = set_byte(data, 0, get_byte(data, 0) # 255)
           WHERE idx = 0 AND upload_id = (SELECT upload_id FROM media_blobs WHERE key = $1)`,
          [id],
        );
      },
      holds: async (id) => (await query('SELECT 1 FROM media_blobs WHERE key = $1', [id])).length === 1,
    },
  }));

  test('the server made no thumbnail of any media (encrypted ones are never read; a plaintext image was refused before)', async () => {
    const rows = await query<{ content_type: string; parent_id: string | null }>('SELECT content_type, parent_id FROM media');
    assert.ok(
      rows.some((r) => r.content_type === 'image/png'),
      'the refused image was uploaded',
    );
    assert.deepEqual(
      rows.filter((r) => r.parent_id !== null),
      [],
    );
  });

  test('no PostgreSQL row holds any of the plaintexts', async () => {
    assert.ok(plaintexts.size >= 10);
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      const dump: string[] = [];
      for (const table of ['messages', 'chats', 'media', 'mls_key_packages', 'mls_welcomes', 'webhook_outbox']) {
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
