import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { CloseCode } from '@switchboard/protocol';
import { sleep, suiteServer } from '../testing/harness.js';

/*
 * Guarantee 7 at its edge: a socket that sends nothing and answers no ping is cut off
 * right when the presence timeout has passed since it was last heard from (not up to a
 * sweep period of several seconds later), with close code 4002 (docs/protocol-notes.md).
 *
 * The timings are scaled down (timeout 4 s, pings after 3 s) but keep the default
 * ratio of ping interval to timeout far from the sweep period a coarse sweeper would use.
 */

const PRESENCE_TIMEOUT_MS = 4000;
const PING_INTERVAL_MS = 3000;

const { srv, users } = suiteServer({ presenceTimeoutMs: PRESENCE_TIMEOUT_MS, pingIntervalMs: PING_INTERVAL_MS });

test('a socket that stays silent and answers no ping is closed with 4002 within 800 ms of the presence timeout', async () => {
  const silent = await users(3, 'idle');
  // Three sockets that read everything but never answer a ping (autoPong off), each last
  // heard from 500 ms after the previous one: whatever phase a sweeper runs at, a coarse
  // one (every 1.5 s here) would be late for at least one of them.
  const results = await Promise.all(
    silent.map(async (u, i) => {
      const ws = new WebSocket(srv.wsUrl, { headers: { authorization: `Bearer ${u.token}` }, autoPong: false });
      const frames: any[] = [];
      ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      await sleep(i * 500);
      ws.send(JSON.stringify({ type: 'ping' }));
      const lastHeard = Date.now();
      const code = await Promise.race([closed, sleep(PRESENCE_TIMEOUT_MS + 5000).then(() => -1)]);
      const took = Date.now() - lastHeard;
      ws.terminate();
      return { code, took, pong: frames.some((f) => f.type === 'pong') };
    }),
  );
  for (const [i, r] of results.entries()) {
    assert.ok(r.pong, `socket ${i} was answered while it spoke`);
    assert.equal(r.code, CloseCode.idleTimeout, `socket ${i}: close code`);
    assert.ok(r.took >= PRESENCE_TIMEOUT_MS - 100, `socket ${i} closed after ${r.took} ms: not before the timeout`);
    assert.ok(r.took <= PRESENCE_TIMEOUT_MS + 800, `socket ${i} closed after ${r.took} ms: within 800 ms of the timeout`);
  }
});

test('a socket that only sends WebSocket pings (control frames) is heard from and stays open', async () => {
  const [u] = await users(1, 'pinger');
  const ws = new WebSocket(srv.wsUrl, { headers: { authorization: `Bearer ${u!.token}` }, autoPong: false });
  let closeCode: number | null = null;
  ws.on('close', (code) => (closeCode = code));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const timer = setInterval(() => ws.ping(), 1000);
  try {
    await sleep(PRESENCE_TIMEOUT_MS + 1500);
    assert.equal(closeCode, null, 'still open past the presence timeout');
    assert.equal(ws.readyState, WebSocket.OPEN);
  } finally {
    clearInterval(timer);
    ws.terminate();
  }
});
