import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { directChatId, type SessionView } from '@switchboard/protocol';
import { SwitchboardClient, type NewMessageEvent, type Transport } from '@switchboard/client';

/*
 * The SDK without WebSockets (PROTOCOL.md "Without WebSockets"): when the WebSocket cannot
 * open while the server answers over HTTP (a proxy that refuses upgrades), the session
 * falls back to Server-Sent Events, then long polling, says so with a `transport` event,
 * works as on a socket, and goes back to the WebSocket once it opens again.
 */

let counter = 0;
async function account(baseUrl: string, prefix: string): Promise<SessionView> {
  const username = `${prefix}_${process.pid}_${++counter}`.slice(0, 32);
  const password = 'correct horse battery';
  await SwitchboardClient.register(baseUrl, { username, password });
  return SwitchboardClient.login(baseUrl, { username, password, device_name: prefix });
}

/** A WebSocket whose upgrades a "proxy" refuses while `blocked` is true: they go to a path the server answers 404. */
function proxiedWebSocket() {
  const state = { blocked: true };
  class Proxied extends WebSocket {
    constructor(url: string, opts?: ConstructorParameters<typeof WebSocket>[1]) {
      super(state.blocked ? url.replace('/v1/ws', '/v1/ws-blocked-by-proxy') : url, opts);
    }
  }
  return { WebSocket: Proxied, state };
}

describe('SDK fallback without WebSockets', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ eventsPollWaitMs: 1000 });
  });
  after(() => server.stop());

  async function pair(prefix: string, aliceOpts: Partial<ConstructorParameters<typeof SwitchboardClient>[0]>) {
    const a = await account(server.baseUrl, `${prefix}a`);
    const b = await account(server.baseUrl, `${prefix}b`);
    const alice = SwitchboardClient.fromSession(server.baseUrl, a, { backoff: { baseMs: 20, capMs: 100 }, ...aliceOpts });
    const bob = SwitchboardClient.fromSession(server.baseUrl, b, { WebSocket, backoff: { baseMs: 20, capMs: 100 } });
    const transports: { transport: Transport; reason: string }[] = [];
    alice.on('transport', (t) => transports.push(t));
    return { a, b, alice, bob, transports, chat: directChatId(a.user_id, b.user_id) };
  }

  async function talk(alice: SwitchboardClient, bob: SwitchboardClient, chat: string, tag: string): Promise<void> {
    const atBob = bob.waitFor('message', { timeoutMs: 10_000, filter: (m: NewMessageEvent) => m.content === `${tag} from alice` });
    const ack = await alice.send(chat, `${tag} from alice`);
    assert.equal((await atBob).message_id, ack.message_id);
    const atAlice = alice.waitFor('message', { timeoutMs: 10_000, filter: (m: NewMessageEvent) => m.content === `${tag} from bob` });
    const back = await bob.send(chat, `${tag} from bob`);
    assert.equal((await atAlice).message_id, back.message_id);
  }

  for (const [name, transports, expected] of [
    ['SSE', undefined, 'sse'],
    ['long polling', ['websocket', 'long-poll'], 'long-poll'],
  ] as [string, Transport[] | undefined, Transport][]) {
    test(`a blocked WebSocket falls back to ${name}, says so, and works as a socket (sends, receives, backlog)`, async () => {
      const proxy = proxiedWebSocket();
      const {
        alice,
        bob,
        transports: seen,
        chat,
      } = await pair(`fb${expected === 'sse' ? 's' : 'p'}`, {
        WebSocket: proxy.WebSocket,
        transports,
      });
      try {
        // Sent before alice connects: her backlog.
        const early = await (async () => {
          const synced = bob.waitFor('sync_complete', { timeoutMs: 10_000 });
          await bob.connect();
          await synced;
          return bob.send(chat, 'while alice was away');
        })();
        const got = alice.waitFor('message', { timeoutMs: 15_000, filter: (m: NewMessageEvent) => m.message_id === early.message_id });
        const synced = alice.waitFor('sync_complete', { timeoutMs: 15_000 });
        await alice.connect();
        await got;
        await synced;
        assert.equal(alice.transport, expected);
        assert.deepEqual(
          seen.map((t) => t.transport),
          expected === 'sse' ? ['sse'] : ['long-poll'],
        );
        assert.match(seen[0]!.reason, /websocket did not open/);
        await talk(alice, bob, chat, name);
        // Receipts travel too.
        const read = bob.waitFor('status', { timeoutMs: 10_000, filter: (s) => s.status === 'read' && s.message_id === early.message_id });
        alice.markRead(chat, early.message_id);
        await read;
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  }

  test('with no WebSocket at all (a page without one) the session starts on SSE at once', async () => {
    const { alice, bob, transports: seen, chat } = await pair('fbn', { WebSocket: undefined });
    try {
      const synced = alice.waitFor('sync_complete', { timeoutMs: 15_000 });
      await alice.connect();
      await synced;
      assert.equal(alice.transport, 'sse');
      assert.deepEqual(seen, [{ transport: 'sse', reason: 'no WebSocket implementation' }]);
      await bob.connect();
      await talk(alice, bob, chat, 'nows');
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('on a fallback the session tries the WebSocket again and moves back once it opens', async () => {
    const proxy = proxiedWebSocket();
    const { alice, bob, transports: seen, chat } = await pair('fbr', { WebSocket: proxy.WebSocket, webSocketRetryMs: 300 });
    try {
      const synced = alice.waitFor('sync_complete', { timeoutMs: 15_000 });
      await alice.connect();
      await synced;
      assert.equal(alice.transport, 'sse');
      await bob.connect();
      await talk(alice, bob, chat, 'on sse');
      const back = alice.waitFor('transport', { timeoutMs: 10_000, filter: (t) => t.transport === 'websocket' });
      proxy.state.blocked = false;
      assert.equal((await back).reason, 'the WebSocket opens again');
      await alice.waitFor('sync_complete', { timeoutMs: 10_000 });
      assert.equal(alice.transport, 'websocket');
      await talk(alice, bob, chat, 'back on ws');
      assert.deepEqual(
        seen.map((t) => t.transport),
        ['sse', 'websocket'],
      );
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
