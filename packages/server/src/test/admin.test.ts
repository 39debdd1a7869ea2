import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { http, startServerProcess, startTestServer, tempDir, type ServerProcess } from '../testing/harness.js';
import { ADMIN_TOKEN, adminTests, IDLE_MS, REPORT_LIMIT } from './admin-support.js';

describe('operators (embedded)', () => {
  let node: ServerProcess;
  const dataDir = tempDir();
  before(async () => {
    node = await startServerProcess({
      dataDir,
      env: { ADMIN_TOKEN, SESSION_IDLE_MS: String(IDLE_MS), LIMIT_REPORTS: REPORT_LIMIT, PASSWORD_HASH_CONCURRENCY: '1' },
    });
  });
  after(async () => {
    await node.kill('SIGKILL');
  });
  adminTests({
    a: () => node,
    b: () => node,
    sql: async (text, values = []) => {
      const db = new Database(path.join(dataDir, 'switchboard.db'), { timeout: 5000 });
      try {
        const stmt = db.prepare(text.replace(/\$\d+/g, '?'));
        return stmt.reader ? (stmt.all(...values) as Record<string, any>[]) : (stmt.run(...values), []);
      } finally {
        db.close();
      }
    },
  });
});

describe('operators: ADMIN_TOKEN', () => {
  test('unset: every admin call answers 404', async () => {
    const s = await startTestServer();
    try {
      for (const [m, p] of [
        ['GET', '/v1/admin/users'],
        ['GET', '/v1/admin/reports'],
        ['POST', '/v1/admin/bots'],
        ['POST', '/v1/admin/users/1/suspend'],
        ['POST', '/v1/admin/users/1/unsuspend'],
        ['DELETE', '/v1/admin/users/1'],
        ['DELETE', '/v1/admin/messages/1'],
      ] as const) {
        const r = await http(s.baseUrl, m, p, { token: ADMIN_TOKEN });
        assert.equal(r.status, 404, `${m} ${p}`);
      }
    } finally {
      await s.stop();
    }
  });

  test('shorter than 32 characters: the server refuses to start', async () => {
    await assert.rejects(startServerProcess({ dataDir: tempDir(), env: { ADMIN_TOKEN: 'x'.repeat(31) } }), /exited/);
  });
});
