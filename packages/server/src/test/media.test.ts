import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../config.js';
import { registerUser } from '../testing/harness.js';
import { startTestServer } from '../testing/harness.js';
import { createUpload, mediaSuite, suiteMediaConfig } from './media-support.js';

/* Media in embedded mode: files under DATA_DIR/media, uploads and downloads served by the server itself. */
describe('media: embedded, files on disk', () => {
  mediaSuite(async () => {
    const srv = await startTestServer({ ...suiteMediaConfig });
    const node = { baseUrl: srv.baseUrl, wsUrl: srv.wsUrl };
    return { a: node, b: node, maxBytes: suiteMediaConfig.mediaMaxBytes, storeEnforcesSize: true, stop: () => srv.stop() };
  });
});

describe('media: the daily upload quota', () => {
  test("uploads past a user's daily quota are refused with 429 and a retry time; other users are unaffected", async () => {
    const srv = await startTestServer({ mediaDailyQuotaBytes: 1000 });
    try {
      const [alice, bob] = [await registerUser(srv.baseUrl, 'quota'), await registerUser(srv.baseUrl, 'quota')];
      const body = { content_type: 'text/plain', size: 600 };
      assert.equal((await createUpload(srv.baseUrl, alice, body)).status, 201);
      const refused = await fetch(`${srv.baseUrl}/v1/media`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(refused.status, 429);
      const answer = (await refused.json()) as { error: string; retry_after_ms: number };
      assert.equal(answer.error, 'rate_limited');
      assert.ok(answer.retry_after_ms > 23 * 3600_000, 'free again when the first upload turns a day old');
      assert.equal(Number(refused.headers.get('retry-after')), Math.ceil(answer.retry_after_ms / 1000));
      assert.equal((await createUpload(srv.baseUrl, bob, body)).status, 201);
    } finally {
      await srv.stop();
    }
  });

  test('RATE_LIMITS=off turns the quota off; MEDIA_DAILY_QUOTA_BYTES sets it', () => {
    assert.equal(loadConfig({}, { RATE_LIMITS: 'off', MEDIA_DAILY_QUOTA_BYTES: '5' }).mediaDailyQuotaBytes, 0);
    assert.equal(loadConfig({}, { MEDIA_DAILY_QUOTA_BYTES: '5' }).mediaDailyQuotaBytes, 5);
    assert.equal(loadConfig({}, {}).mediaMaxBytes, 64 * 1024 * 1024);
  });
});
