import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startTestServer, waitUntil, type TestServer } from '@switchboard/server/testing';
import { e2eeSdkSuite } from './e2ee-support.js';

/*
 * docs/e2ee.md with the SDK on the embedded server (SQLite); afterwards the database file
 * (and its write-ahead log) is read byte by byte, and so is every webhook body the server
 * posted meanwhile: no plaintext sent in the suite is in them. Media live in
 * DATA_DIR/media/objects, one file per media id, where the suite alters them.
 */
const ADMIN_TOKEN = 'e2ee-test-admin-token-0123456789abcdef';

describe('end-to-end encryption with the SDK (embedded)', () => {
  let server: TestServer;
  let receiver: Server;
  const bodies: string[] = [];
  const plaintexts = new Set<string>();
  before(async () => {
    server = await startTestServer({ adminToken: ADMIN_TOKEN });
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as { port: number }).port;
    const hook = await fetch(`${server.baseUrl}/v1/admin/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/hook` }),
    });
    assert.equal(hook.status, 201);
  });
  after(async () => {
    await server.stop();
    receiver.close();
  });
  const object = (id: string) => path.join(server.dataDir, 'media', 'objects', id);
  e2eeSdkSuite(() => ({
    nodes: [server],
    plaintexts,
    media: {
      tamper: async (id) => {
        const bytes = readFileSync(object(id));
        bytes[0] = bytes[0]! ^ 0xff;
        writeFileSync(object(id), bytes);
      },
      holds: async (id) => existsSync(object(id)),
    },
  }));

  test('the server made no thumbnail of any media (encrypted ones are never read; a plaintext image was refused before)', () => {
    const db = new Database(path.join(server.dataDir, 'switchboard.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT content_type, parent_id FROM media').all() as { content_type: string; parent_id: string | null }[];
      assert.ok(
        rows.some((r) => r.content_type === 'image/png'),
        'the refused image was uploaded',
      );
      assert.deepEqual(
        rows.filter((r) => r.parent_id !== null),
        [],
      );
    } finally {
      db.close();
    }
  });

  test('the SQLite file and its log hold none of the plaintexts', () => {
    assert.ok(plaintexts.size >= 10, `texts were sent (${plaintexts.size})`);
    const files = ['switchboard.db', 'switchboard.db-wal'].map((f) => path.join(server.dataDir, f)).filter(existsSync);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    assert.ok(bytes.length > 0);
    for (const text of plaintexts) assert.equal(bytes.indexOf(Buffer.from(text, 'utf8')), -1, `"${text}" is in the store`);
    // The check finds what is there: a username the suite registered is.
    assert.notEqual(bytes.indexOf(Buffer.from('e2carol', 'utf8')), -1);
  });

  test('webhook bodies of encrypted messages carry neither text nor ciphertext', async () => {
    const created = () => bodies.filter((b) => b.includes('"message.created"'));
    await waitUntil(
      () => created().length >= plaintexts.size,
      15_000,
      'message.created webhooks',
      () => String(created().length),
    );
    for (const body of bodies) for (const text of plaintexts) assert.equal(body.includes(text), false, `"${text}" is in a webhook body`);
    for (const body of created()) {
      const data = (JSON.parse(body) as { data: { content: string; ciphertext?: string } }).data;
      assert.equal(data.content, '');
      assert.equal(data.ciphertext, undefined);
    }
  });
});
