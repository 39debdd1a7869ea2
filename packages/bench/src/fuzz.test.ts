import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer } from '@switchboard/server/testing';
import { runFuzz } from './fuzz.js';

/*
 * A short fuzz run (issue 9) against a live in-process server: a few thousand random and
 * mutated frames and HTTP requests. The server must not crash, must answer every bad
 * frame with an error frame (sockets stay open), must never answer 5xx, and another
 * pair's messages must keep flowing meanwhile. `npm run bench -- fuzz` is the long run.
 * FUZZ_SEED=N replays a run.
 */

test(
  'a few thousand hostile frames and requests: no crash, every bad frame answered, others unaffected',
  { timeout: 180_000 },
  async () => {
    const srv = await startTestServer();
    try {
      const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000_000);
      const r = await runFuzz({ baseUrl: srv.baseUrl, throws: 3000, seed, sockets: 3, httpShare: 0.1 });
      assert.equal(r.crashes, 0, `seed ${seed}`);
      assert.deepEqual(r.errors, [], `seed ${seed}`);
      assert.ok(r.framesThrown > 2000 && r.httpThrown > 100, `thrown ${r.framesThrown} frames, ${r.httpThrown} requests`);
      assert.ok(r.badFrames > 0 && r.errorFrames >= r.badFrames, `${r.badFrames} bad frames, ${r.errorFrames} error frames (seed ${seed})`);
      assert.ok(r.controlSent > 0);
      assert.equal(r.controlDelivered, r.controlSent, 'the other pair got every message');
    } finally {
      await srv.stop();
    }
  },
);
