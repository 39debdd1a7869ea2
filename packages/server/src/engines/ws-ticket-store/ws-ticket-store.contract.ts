import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { WsTicketStore } from './ws-ticket-store.js';

/*
 * The ws-ticket-store contract: every WsTicketStore runs this suite
 * (in-memory-ws-ticket-store.test.ts, redis-ws-ticket-store.test.ts,
 * redis-cluster-ws-ticket-store.test.ts). Expiry is checked with short TTLs and sleeps
 * well past them, never with tight timing.
 */

export interface WsTicketHarness {
  store: WsTicketStore;
  /** A second handle on the same tickets (another node); the same object where there is one process. */
  other: WsTicketStore;
  cleanup: () => Promise<void>;
}

const run = randomBytes(3).toString('hex');
let n = 0;
const key = (what: string) => `${what}-${run}-${++n}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function runWsTicketStoreContract(name: string, open: () => Promise<WsTicketHarness>): void {
  describe(`${name} ws-ticket store contract`, () => {
    test('a ticket is taken once, on any handle; an unknown one is null', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const k = key('once');
      await store.put(k, 'device-a', 30_000);
      assert.equal(await other.take(k), 'device-a', 'taken on the other handle');
      assert.equal(await store.take(k), null, 'a second take');
      assert.equal(await other.take(k), null, 'a third take elsewhere');
      assert.equal(await store.take(key('unknown')), null);
    });

    test('tickets are independent', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const [a, b] = [key('a'), key('b')];
      await store.put(a, 'one', 30_000);
      await other.put(b, 'two', 30_000);
      assert.equal(await store.take(b), 'two');
      assert.equal(await other.take(a), 'one');
    });

    test('a ticket not taken within its TTL is gone', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const [short, long] = [key('short'), key('long')];
      await store.put(short, 'soon gone', 100);
      await store.put(long, 'still there', 30_000);
      await sleep(400);
      assert.equal(await other.take(short), null, 'expired');
      assert.equal(await other.take(long), 'still there');
    });

    test('concurrent takes of one ticket: exactly one wins', async (t) => {
      const { store, other, cleanup } = await open();
      t.after(cleanup);
      const k = key('race');
      await store.put(k, 'prize', 30_000);
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? store : other).take(k)));
      assert.deepEqual(
        answers.filter((v) => v !== null),
        ['prize'],
      );
    });
  });
}
