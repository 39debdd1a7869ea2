import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { directChatId } from '@switchboard/protocol';
import { login, registerUser, sleep, TestSocket, type ServerProcess } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';

/*
 * Two real nodes on one Redis and one PostgreSQL. A node that is the only one holding a
 * user's sockets delivers that user's events (its own sends' copies, read_sync) without
 * Redis. These tests hold that this never costs another device a message: a device that
 * connects to another node while the user's messages keep coming gets every one of them
 * (replay or live), and devices on the same node still get each other's sends.
 */
const missing = await clusterServicesMissing();

type Frame = Record<string, unknown> & { type: string };

/** The seqs of new_message frames of a chat on a socket. */
const seqsOf = (sock: TestSocket, chat: string) =>
  (sock.all('new_message') as Frame[]).filter((f) => f.chat_id === chat).map((f) => Number(f.seq));

async function spublishCalls(redisUrl: string): Promise<number> {
  const r = new Redis(redisUrl);
  try {
    const info = await r.info('commandstats');
    return Number(/cmdstat_spublish:calls=(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    r.disconnect();
  }
}

describe('cluster: a user topic held by one node', { skip: missing ?? false }, () => {
  const { nodes, redisUrl } = clusterSuite(2);

  test("a device connecting to another node mid-stream gets every message of its user's other device", async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const alice = await registerUser(a.baseUrl, 'ota');
    const bob = await registerUser(a.baseUrl, 'otb');
    const phone = await login(a.baseUrl, alice.username, alice.password, 'phone');
    const chat = directChatId(alice.user_id, bob.user_id);
    const laptop = await TestSocket.connectSynced(a.wsUrl, alice.token);
    let onB: TestSocket | undefined;
    try {
      // Node A is alone on alice's topic: her laptop's sends reach her other devices without Redis.
      let last = 0;
      const send = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const ack = await laptop.sendMessage(chat, `m${last + 1}`);
          assert.equal(ack.type, 'ack_sent');
          last = Number(ack.seq);
        }
      };
      await send(3);
      // The phone connects to node B while the laptop keeps sending.
      const sending = send(40);
      await sleep(20);
      onB = await TestSocket.connectSynced(b.wsUrl, phone.token);
      await sending;
      // And after its replay: these can only arrive live, through Redis.
      await send(10);
      const phoneSock = onB;
      await phoneSock.waitFor((f) => f.type === 'new_message' && f.chat_id === chat && Number(f.seq) === last, 5000, `seq ${last}`);
      assert.deepEqual(
        seqsOf(phoneSock, chat),
        Array.from({ length: last }, (_, i) => i + 1),
        'every message once, in order',
      );
    } finally {
      laptop.terminate();
      onB?.terminate();
    }
  });

  test("devices on the same node get each other's sends and read_sync, and the own topic costs no SPUBLISH", async () => {
    const [a] = nodes as [ServerProcess, ServerProcess];
    const carol = await registerUser(a.baseUrl, 'otc');
    const dave = await registerUser(a.baseUrl, 'otd'); // offline throughout
    const tablet = await login(a.baseUrl, carol.username, carol.password, 'tablet');
    const chat = directChatId(carol.user_id, dave.user_id);
    const phone = await TestSocket.connectSynced(a.wsUrl, carol.token);
    const second = await TestSocket.connectSynced(a.wsUrl, tablet.token);
    try {
      await sleep(100); // the announcement's check settles
      const before = await spublishCalls(redisUrl());
      const n = 20;
      let ack: Frame | undefined;
      for (let i = 0; i < n; i++) ack = (await phone.sendMessage(chat, `s${i}`)) as Frame;
      await second.waitFor((f) => f.type === 'new_message' && f.message_id === ack!.message_id, 5000, 'the last send on the tablet');
      assert.equal(seqsOf(second, chat).length, n);
      // Each send is one SPUBLISH, to dave's topic (nobody holds it); carol's own copy stays on the node.
      const used = (await spublishCalls(redisUrl())) - before;
      assert.ok(used >= n && used < n + 5, `SPUBLISH calls for ${n} sends: ${used}`);

      // A read on one device reaches the other (read_sync), also without Redis.
      const own = (await phone.sendMessage(chat, 'to be read')) as Frame;
      second.send({ type: 'ack_read', chat_id: chat, last_read_message_id: own.message_id });
      const sync = await phone.waitFor((f) => f.type === 'read_sync' && f.chat_id === chat, 5000, 'read_sync');
      assert.equal(Number(sync.read_seq), Number(own.seq));
    } finally {
      phone.terminate();
      second.terminate();
    }
  });
});
