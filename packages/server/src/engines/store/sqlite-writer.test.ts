import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from './sqlite-store.js';

/*
 * The writer thread behind SqliteStore: a failing write fails alone, and a thread that
 * dies is replaced (what it had not answered is refused; what comes after is stored).
 */

const user = (id: string) => ({ id, username: `n${id}`, displayName: id, passwordHash: 'x', createdAt: 1 });
const send = (i: number, chatId = 'dm:ua:ub') => ({
  messageId: `m${i}`,
  chatId,
  senderId: 'ua',
  senderDeviceId: 'd',
  clientMsgId: `c${i}`,
  content: `hello ${i}`,
  createdAt: i,
  createDirectWith: ['ua', 'ub'],
});

async function withStore(run: (store: SqliteStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-writer-'));
  const store = new SqliteStore(dir);
  try {
    await run(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('sqlite writer: a write that fails in a batch fails alone; the rest of its batch commits', async () => {
  await withStore(async (store) => {
    await Promise.all([store.createUser(user('ua')), store.createUser(user('ub'))]);
    // Same turn, same batch: the second append names a chat that does not exist (no createDirectWith).
    const results = await Promise.allSettled([
      store.append([send(1)]),
      store.append([{ ...send(2), chatId: 'g:404', createDirectWith: undefined }]),
      store.append([send(3)]),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /does not exist/);
    assert.equal(results[2].status, 'fulfilled');
    assert.deepEqual(
      (await store.range('dm:ua:ub', 0, 10, 10)).map((m) => m.seq),
      [1, 2],
    );
  });
});

test('sqlite writer: a writer thread that dies is replaced; later writes are stored', async () => {
  await withStore(async (store) => {
    await Promise.all([store.createUser(user('ua')), store.createUser(user('ub'))]);
    await store.append([send(1)]);
    // The thread as the store holds it (private): terminated as a crash would end it.
    const { writer } = store as unknown as { writer: { worker: { terminate(): Promise<number> } } };
    await writer.worker.terminate();
    const [after] = await store.append([send(2)]);
    assert.equal((after as { message?: { seq: number } }).message?.seq, 2, 'seq goes on from the committed state');
    assert.equal((await store.getChat('dm:ua:ub'))?.lastSeq, 2);
  });
});

test('sqlite writer: an append is answered before later appends even when a background write went in its turn', async () => {
  await withStore(async (store) => {
    await Promise.all([store.createUser(user('ua')), store.createUser(user('ub'))]);
    await store.append([send(0)]);
    const answered: number[] = [];
    // Same turn: an append and a write the thread commits only when nothing else waits.
    const first = store.append([send(1)]).then(() => answered.push(1));
    const touched = store.touchDevice('no-such-device', Date.now());
    // Then a new append every turn, so the thread always has other writes waiting.
    let i = 2;
    while (answered.length === 0 && i < 400) {
      const n = i++;
      void store.append([send(n)]).then(() => answered.push(n));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([first, touched]);
    assert.equal(answered[0], 1, `answered first: ${answered.slice(0, 5).join(', ')}`);
  });
});

test("sqlite writer: retention's slices still commit while sends alone keep the thread busy", async () => {
  await withStore(async (store) => {
    await Promise.all([store.createUser(user('ua')), store.createUser(user('ub'))]);
    // 60 entries created at 0..59 ms after the epoch: long expired.
    for (let i = 0; i < 60; i++) await store.append([send(i)]);
    let done = false;
    // Sends every turn, more than the thread commits meanwhile: it always has a send waiting,
    // so no background commit comes for the slices to ride and none goes alone.
    const batch = store.expireMessages(100, 50).finally(() => (done = true));
    const started = performance.now();
    for (let i = 60; !done && performance.now() - started < 10_000; i += 20) {
      for (let k = i; k < i + 20; k++) void store.append([{ ...send(k), createdAt: Date.now() }]);
      await new Promise((r) => setImmediate(r));
    }
    const { erased, more } = await batch;
    assert.equal(erased, 50, 'every slice of the batch committed');
    assert.equal(more, true);
    assert.ok(performance.now() - started < 10_000, 'within the sends');
    assert.equal((await store.range('dm:ua:ub', 0, 100, 1))[0]?.seq, 51, 'the oldest 50 are gone');
  });
});
