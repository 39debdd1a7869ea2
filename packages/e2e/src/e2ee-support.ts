import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { waitUntil } from '@switchboard/server/testing';
import { zeroPng } from '@switchboard/server/testing/zero-png';
import type { SessionView } from '@switchboard/protocol';
import {
  E2ee,
  SwitchboardClient,
  folderStorage,
  type DecryptedChange,
  type DecryptedMessage,
  type E2eeStorage,
  type RefusedChange,
  type FetchLike,
  type NewMessageEvent,
} from '@switchboard/client';

/*
 * docs/e2ee.md end to end: several SDK clients (E2ee over SwitchboardClient, real ts-mls)
 * against real servers. Run on the embedded server and on two cluster nodes (`nodes[i % 2]`
 * for the i-th account, so every exchange crosses nodes). `plaintexts` collects every text
 * sent, for the test that reads the store's bytes afterwards.
 */

export interface Node {
  baseUrl: string;
}

export interface Device {
  session: SessionView & { username: string; password: string };
  client: SwitchboardClient;
  e2ee: E2ee;
  dir: string;
  /** The socket the client has open now (a test can hand it frames, as a server would). */
  socket: () => WebSocket | undefined;
}

let counter = 0;
const dirs: string[] = [];

/** A server frame as it arrives, which a test may alter first (as a malicious server would). */
export type Rewrite = (frame: Record<string, unknown>) => void;

/** A `ws` constructor that remembers the latest socket, and hands each incoming frame to `rewrite` first. */
function trackedWs(rewrite?: Rewrite) {
  const opened: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string, opts?: unknown) {
      super(url, opts as never);
      opened.push(this);
    }
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (rewrite && event === 'message' && Buffer.isBuffer(args[0])) {
        const frame = JSON.parse(args[0].toString('utf8')) as Record<string, unknown>;
        rewrite(frame);
        args[0] = Buffer.from(JSON.stringify(frame));
      }
      return super.emit(event, ...args);
    }
  }
  return { Tracked, latest: () => opened.at(-1) };
}

export async function openDevice(
  baseUrl: string,
  session: Device['session'],
  dir?: string,
  opts: { fetch?: FetchLike; externalJoin?: boolean; editWindowS?: number; rewrite?: Rewrite } = {},
): Promise<Device> {
  const folder = dir ?? mkdtempSync(path.join(tmpdir(), 'sb-e2ee-'));
  if (!dir) dirs.push(folder);
  const { externalJoin, editWindowS, rewrite, ...clientOpts } = opts;
  const ws = trackedWs(rewrite);
  const client = SwitchboardClient.fromSession(baseUrl, session, {
    WebSocket: ws.Tracked,
    backoff: { baseMs: 50, capMs: 400 },
    ...clientOpts,
  });
  const e2ee = await E2ee.open(client, { storage: await folderStorage(folder), keyPackageTarget: 4, externalJoin, editWindowS });
  await e2ee.topUpKeyPackages();
  const synced = client.waitFor('sync_complete', { timeoutMs: 10_000 });
  await client.connect();
  await synced;
  return { session, client, e2ee, dir: folder, socket: ws.latest };
}

/** Removes the folders of the devices openDevice made (given no folder of the caller's). */
export function removeDeviceDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function newAccount(baseUrl: string, prefix: string): Promise<Device['session']> {
  const username = `${prefix}_${process.pid}_${++counter}`.slice(0, 32);
  const password = 'correct horse battery';
  await SwitchboardClient.register(baseUrl, { username, password });
  const session = await SwitchboardClient.login(baseUrl, { username, password, device_name: prefix });
  return { ...session, username, password };
}

export async function anotherDevice(baseUrl: string, d: Device['session'], name: string): Promise<Device['session']> {
  const session = await SwitchboardClient.login(baseUrl, { username: d.username, password: d.password, device_name: name });
  return { ...session, username: d.username, password: d.password };
}

export const inGroup = (d: Device, chatId: string) =>
  waitUntil(() => d.e2ee.hasGroup(chatId), 10_000, `${d.session.username} joins ${chatId}`);

/** Sends `text` from `from` and waits until every device in `to` decrypted it. */
export async function exchange(from: Device, to: Device[], chatId: string, text: string): Promise<DecryptedMessage[]> {
  const got = to.map((d) => d.e2ee.waitFor('message', { timeoutMs: 10_000, filter: (m) => m.chat_id === chatId && m.text === text }));
  await from.e2ee.send(chatId, text);
  const out = await Promise.all(got);
  for (const m of out) {
    assert.equal(m.sender_id, from.session.user_id);
    assert.equal(m.sender_device_id, from.session.device_id);
  }
  return out;
}

/** What the servers keep, read where they keep it (their media folder, their database). */
export interface MediaBackdoor {
  /** Flips a byte of a media's stored bytes, as a malicious server or a broken disk would. */
  tamper(mediaId: string): Promise<void>;
  /** Whether the store still holds the media's bytes. */
  holds(mediaId: string): Promise<boolean>;
}

export function e2eeSdkSuite(
  target: () => {
    nodes: Node[];
    plaintexts: Set<string>;
    afterAll?: (check: (texts: string[]) => Promise<void>) => void;
    media: MediaBackdoor;
  },
): void {
  const devices: Device[] = [];
  after(() => {
    for (const d of devices) {
      d.e2ee.close();
      void d.client.close();
    }
    removeDeviceDirs();
  });
  const node = (i: number) => target().nodes[i % target().nodes.length]!.baseUrl;
  const open = async (
    i: number,
    session: Device['session'],
    opts: { externalJoin?: boolean; editWindowS?: number; rewrite?: Rewrite } = {},
  ) => {
    const d = await openDevice(node(i), session, undefined, opts);
    devices.push(d);
    return d;
  };
  const say = async (from: Device, to: Device[], chatId: string, text: string) => {
    target().plaintexts.add(text);
    return exchange(from, to, chatId, text);
  };
  /** A process of `session`'s device on node 1 with its E2ee state in `folder` through `storage`: the next one may open the same folder. */
  const processOn = async (session: Device['session'], folder: string, storage: E2eeStorage): Promise<Device> => {
    const client = SwitchboardClient.fromSession(node(1), session, { WebSocket, backoff: { baseMs: 50, capMs: 400 } });
    const e2ee = await E2ee.open(client, { storage, keyPackageTarget: 4 });
    const d: Device = { session, client, e2ee, dir: folder, socket: () => undefined };
    devices.push(d);
    return d;
  };
  /** Connects b, then a starts an encrypted direct chat with it and says `first`; answers the chat. */
  const directFrom = async (a: Device, b: Device, first: string): Promise<string> => {
    await b.e2ee.topUpKeyPackages();
    const synced = b.client.waitFor('sync_complete', { timeoutMs: 10_000 });
    await b.client.connect();
    await synced;
    const chatId = await a.e2ee.startDirect(b.session.user_id);
    await inGroup(b, chatId);
    await say(a, [b], chatId, first);
    return chatId;
  };

  test('1:1: either side starts encryption, both exchange encrypted messages, and the security codes agree', async () => {
    const alice = await open(0, await newAccount(node(0), 'e2a'));
    const bob = await open(1, await newAccount(node(1), 'e2b'));
    const chatId = await alice.e2ee.startDirect(bob.session.user_id);
    await inGroup(bob, chatId);
    await say(alice, [bob], chatId, 'hello bob, this is secret one');
    await say(bob, [alice], chatId, 'hello alice, secret two');
    assert.equal(alice.e2ee.securityCode(chatId, bob.session.user_id), bob.e2ee.securityCode(chatId, bob.session.user_id));
    assert.equal(alice.e2ee.securityCode(chatId, alice.session.user_id), bob.e2ee.securityCode(chatId, alice.session.user_id));
    assert.match(alice.e2ee.securityCode(chatId, bob.session.user_id), /^(\d{5} ){11}\d{5}$/);
    assert.notEqual(alice.e2ee.securityCode(chatId, bob.session.user_id), alice.e2ee.securityCode(chatId, alice.session.user_id));
    // The server refuses plaintext there now, and history holds ciphertext only.
    await assert.rejects(
      alice.client.send(chatId, 'in clear'),
      (e: { frame?: { code?: string } }) => e.frame?.code === 'encryption_required',
    );
    const page = await bob.client.rest.history(chatId, { limit: 10 });
    assert.ok(page.messages.every((m) => m.content === '' && typeof m.ciphertext === 'string'));
    // The chat list marks it encrypted for both (an app shows that before it has the group).
    for (const d of [alice, bob]) assert.equal((await d.client.chats()).find((c) => c.chat_id === chatId)?.encrypted, true);
  });

  test('both sides of a direct chat start at once: one epoch 0 wins, the other joins by its welcome', async () => {
    const a = await open(0, await newAccount(node(0), 'e2ra'));
    const b = await open(1, await newAccount(node(1), 'e2rb'));
    const [x, y] = await Promise.all([a.e2ee.startDirect(b.session.user_id), b.e2ee.startDirect(a.session.user_id)]);
    assert.equal(x, y);
    await inGroup(a, x);
    await inGroup(b, x);
    await say(a, [b], x, 'raced and still secret');
    await say(b, [a], x, 'secret reply after the race');
  });

  test('a group with a two-device member: everyone reads everyone; an added member reads what follows; a removed one cannot', async () => {
    const sessions = await Promise.all(Array.from({ length: 5 }, (_, i) => newAccount(node(i), `e2g${i}`)));
    const members = await Promise.all(sessions.map((s, i) => open(i, s)));
    const laptop = await open(1, await anotherDevice(node(1), sessions[1]!, 'laptop'));
    const [admin, ...rest] = members;
    const group = await admin!.e2ee.createEncryptedGroup(
      'secret team',
      rest.map((m) => m.session.user_id),
    );
    assert.equal(group.encrypted, true);
    assert.equal((await laptop.client.chats()).find((c) => c.chat_id === group.chat_id)?.encrypted, true);
    const everyone = [...members, laptop];
    for (const d of everyone) await inGroup(d, group.chat_id);
    assert.equal(admin!.e2ee.members(group.chat_id).length, 6, 'one leaf per device');
    await say(admin!, everyone.slice(1), group.chat_id, 'group secret from the admin');
    await say(
      laptop,
      everyone.filter((d) => d !== laptop),
      group.chat_id,
      'group secret from a second device',
    );
    await say(
      members[3]!,
      everyone.filter((d) => d !== members[3]),
      group.chat_id,
      'group secret from a member',
    );

    const carol = await open(0, await newAccount(node(0), 'e2carol'));
    await admin!.e2ee.addMembers(group.chat_id, [carol.session.user_id]);
    await inGroup(carol, group.chat_id);
    await say(members[2]!, [...everyone.filter((d) => d !== members[2]), carol], group.chat_id, 'welcome carol, secret');

    // Removed: the server sends carol nothing more, and what it would have carried she cannot open.
    const carolEpoch = carol.e2ee.epoch(group.chat_id);
    await admin!.e2ee.removeMember(group.chat_id, carol.session.user_id);
    const raw = members[1]!.client.waitFor('message', { timeoutMs: 10_000, filter: (m: NewMessageEvent) => m.chat_id === group.chat_id });
    const after = await say(admin!, everyone.slice(1), group.chat_id, 'after carol left, secret');
    assert.equal(after.length, everyone.length - 1);
    const frame = await raw;
    const refused = carol.e2ee.waitFor('undecryptable', { timeoutMs: 10_000, filter: (u) => u.message_id === frame.message_id });
    const seen: string[] = [];
    carol.e2ee.on('message', (m) => seen.push(m.text));
    // As a malicious server would: hand carol the later ciphertext anyway.
    carol.socket()!.emit('message', Buffer.from(JSON.stringify(frame)), false);
    await refused;
    assert.deepEqual(seen, []);
    assert.equal(carol.e2ee.epoch(group.chat_id), carolEpoch, 'carol never reached the epoch after her removal');
    assert.ok(admin!.e2ee.members(group.chat_id).every((m) => m.user_id !== carol.session.user_id));
  });

  test("a member's new device joins the encrypted chats by itself (external commit), reads what follows, and is read", async () => {
    const sessions = await Promise.all(Array.from({ length: 3 }, (_, i) => newAccount(node(i), `e2n${i}`)));
    const [a, b, c] = await Promise.all(sessions.map((s, i) => open(i, s)));
    const group = await a!.e2ee.createEncryptedGroup('new phone', [b!.session.user_id, c!.session.user_id]);
    for (const d of [b!, c!]) await inGroup(d, group.chat_id);
    const direct = await a!.e2ee.startDirect(b!.session.user_id);
    await inGroup(b!, direct);
    await say(a!, [b!, c!], group.chat_id, 'before the new phone');
    const start = a!.e2ee.epoch(group.chat_id);

    // b signs in on a new phone: nobody adds it; it joins both chats on its own once synced.
    const phone = await open(1, await anotherDevice(node(1), sessions[1]!, 'new phone'));
    await inGroup(phone, group.chat_id);
    await inGroup(phone, direct);
    const all = [a!, b!, c!, phone];
    await waitUntil(() => all.every((d) => d.e2ee.epoch(group.chat_id) === start + 1), 10_000, 'everyone at the join epoch');
    assert.equal(a!.e2ee.members(group.chat_id).length, 4, 'the phone is a leaf of its own');
    await waitUntil(
      () => a!.e2ee.members(direct).some((m) => m.device_id === phone.session.device_id),
      10_000,
      'a processes the phone joining the direct chat',
    );
    // The others see b's security code change (a device more), and agree on the new one.
    assert.equal(a!.e2ee.securityCode(group.chat_id, b!.session.user_id), c!.e2ee.securityCode(group.chat_id, b!.session.user_id));
    await say(c!, [a!, b!, phone], group.chat_id, 'hello new phone, secret');
    await say(phone, [a!, b!, c!], group.chat_id, 'typed on the new phone, secret');
    await say(a!, [b!, phone], direct, 'direct to both of b, secret');
  });

  test('two commits race for one epoch: one wins, the other device rebases and commits on the next epoch by itself', async () => {
    const sessions = await Promise.all(Array.from({ length: 3 }, (_, i) => newAccount(node(i), `e2x${i}`)));
    const [a, b, c] = await Promise.all(sessions.map((s, i) => open(i, s)));
    const group = await a!.e2ee.createEncryptedGroup('racers', [b!.session.user_id, c!.session.user_id]);
    for (const d of [b!, c!]) await inGroup(d, group.chat_id);
    const start = a!.e2ee.epoch(group.chat_id);
    // A new device of c's user (left to be added, not joining by itself): both a and b notice it is missing and commit at once.
    const c2 = await open(1, await anotherDevice(node(1), sessions[2]!, 'second'), { externalJoin: false });
    await Promise.all([a!.e2ee.changeMembers(group.chat_id, []), b!.e2ee.changeMembers(group.chat_id, [])]);
    await inGroup(c2, group.chat_id);
    const all = [a!, b!, c!, c2];
    await waitUntil(() => all.every((d) => d.e2ee.epoch(group.chat_id) === start + 2), 10_000, 'everyone at start + 2');
    assert.equal(a!.e2ee.members(group.chat_id).length, 4);
    await say(
      b!,
      all.filter((d) => d !== b),
      group.chat_id,
      'secret after the race',
    );
    await say(
      c2,
      all.filter((d) => d !== c2),
      group.chat_id,
      'secret from the new device',
    );
  });

  test('an offline device catches up in order through commits and messages, its state read back from its folder', async () => {
    const sessions = await Promise.all(Array.from({ length: 3 }, (_, i) => newAccount(node(i), `e2o${i}`)));
    const [a, b, dave] = await Promise.all(sessions.map((s, i) => open(i, s)));
    const group = await a!.e2ee.createEncryptedGroup('offline', [b!.session.user_id, dave!.session.user_id]);
    for (const d of [b!, dave!]) await inGroup(d, group.chat_id);
    await say(a!, [b!, dave!], group.chat_id, 'before dave went away');
    // Dave's device goes away (process gone: only its folder is left).
    dave!.e2ee.close();
    await dave!.client.close();
    const erin = await open(0, await newAccount(node(0), 'e2erin'));
    const texts = ['offline secret 1', 'offline secret 2', 'offline secret 3'];
    target().plaintexts.add(texts[0]!);
    await a!.e2ee.send(group.chat_id, texts[0]!);
    await a!.e2ee.addMembers(group.chat_id, [erin.session.user_id]);
    await inGroup(erin, group.chat_id);
    await say(b!, [a!, erin], group.chat_id, texts[1]!);
    await a!.e2ee.removeMember(group.chat_id, erin.session.user_id);
    await say(a!, [b!], group.chat_id, texts[2]!);
    // Back: a new process on the same folder and session.
    const received: string[] = [];
    const again = await (async () => {
      const ws = trackedWs();
      const client = SwitchboardClient.fromSession(node(1), dave!.session, { WebSocket: ws.Tracked, backoff: { baseMs: 50, capMs: 400 } });
      const e2ee = await E2ee.open(client, { storage: await folderStorage(dave!.dir) });
      e2ee.on('message', (m) => received.push(m.text));
      const d: Device = { session: dave!.session, client, e2ee, dir: dave!.dir, socket: ws.latest };
      devices.push(d);
      await client.connect();
      return d;
    })();
    await waitUntil(
      () => received.length >= 3,
      10_000,
      'dave catches up',
      () => JSON.stringify(received),
    );
    assert.deepEqual(received, texts);
    assert.equal(again.e2ee.epoch(group.chat_id), a!.e2ee.epoch(group.chat_id));
    await say(again, [a!, b!], group.chat_id, 'dave is back, secret');
  });

  test('a ciphertext the device could not save is not acknowledged: its next process gets it again and reads it', async () => {
    const [sa, sb] = await Promise.all([0, 1].map((i) => newAccount(node(i), `e2k${i}`)));
    const a = await open(0, sa!);
    // B's folder, with puts of group state that fail on demand (a full disk, or the process dying mid-write).
    const folder = mkdtempSync(path.join(tmpdir(), 'sb-e2ee-'));
    dirs.push(folder);
    const disk = await folderStorage(folder);
    let failing = false;
    let failed = 0;
    const flaky: E2eeStorage = {
      get: (k) => disk.get(k),
      delete: (k) => disk.delete(k),
      list: (p) => disk.list(p),
      put: async (k, v) => {
        if (failing && k.startsWith('group/')) {
          failed++;
          throw new Error('no space left on device');
        }
        return disk.put(k, v);
      },
    };
    const b = await processOn(sb!, folder, flaky);
    const chatId = await directFrom(a, b, 'kept before the disk filled');

    failing = true;
    const text = 'a secret that must survive the crash';
    target().plaintexts.add(text);
    const decrypted: string[] = [];
    b.e2ee.on('message', (m) => decrypted.push(m.text));
    await a.e2ee.send(chatId, text);
    await waitUntil(() => failed > 0, 10_000, 'B tries to save the state after the message');
    // Let an ack on arrival (the bug) reach the server before the process goes.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(decrypted, [], 'shown although its state could not be saved');
    b.e2ee.close();
    await b.client.close();

    // The next process on the same folder: the server replays the message, and it is read.
    const again = await processOn(sb!, folder, disk);
    const got = again.e2ee.waitFor('message', { timeoutMs: 10_000, filter: (m) => m.text === text });
    await again.client.connect();
    assert.equal((await got).sender_id, sa!.user_id);
    await say(a, [again], chatId, 'and the chat goes on');
  });

  test('a decrypted message the app could not keep is not acknowledged: the next process is told it is lost, not silent', async () => {
    const [sa, sb] = await Promise.all([0, 1].map((i) => newAccount(node(i), `e2l${i}`)));
    const a = await open(0, sa!);
    const folder = mkdtempSync(path.join(tmpdir(), 'sb-e2ee-'));
    dirs.push(folder);
    const disk = await folderStorage(folder);
    const b = await processOn(sb!, folder, disk);
    const chatId = await directFrom(a, b, 'kept by the app');

    // The app's own store refuses the text (a full disk): its listener's promise rejects.
    const text = 'a secret the app could not write down';
    target().plaintexts.add(text);
    let refused = 0;
    b.e2ee.on('message', async (m) => {
      if (m.text !== text) return;
      refused++;
      throw new Error('QuotaExceededError');
    });
    const ack = await a.e2ee.send(chatId, text);
    await waitUntil(() => refused > 0, 10_000, 'B decrypts and its app fails to keep the text');
    // An ack on emit (the old behaviour) would reach the server within this.
    await new Promise((r) => setTimeout(r, 300));
    b.e2ee.close();
    await b.client.close();

    // The server replays it to the next process; MLS opens a message only once, so it says it is lost.
    const again = await processOn(sb!, folder, disk);
    const lost = again.e2ee.waitFor('undecryptable', { timeoutMs: 10_000, filter: (u) => u.message_id === ack.message_id });
    await again.client.connect();
    assert.equal((await lost).chat_id, chatId);
    await say(a, [again], chatId, 'and the chat goes on');
  });

  test('a file: encrypted by the sender, read byte for byte by the others; the server keeps opaque bytes, serves them to members only, until deleted', async () => {
    const sessions = await Promise.all(Array.from({ length: 4 }, (_, i) => newAccount(node(i), `e2f${i}`)));
    const [a, b, c] = await Promise.all(sessions.slice(0, 3).map((s, i) => open(i, s)));
    const outsider = sessions[3]!;
    const group = await a!.e2ee.createEncryptedGroup('files', [b!.session.user_id, c!.session.user_id]);
    const chatId = group.chat_id;
    for (const d of [b!, c!]) await inGroup(d, chatId);

    const bytes = new Uint8Array(randomBytes(300_000));
    const thumb = new Uint8Array(zeroPng(32, 24, { bits: 8, colorType: 6, interlaced: false }));
    const name = `secret-plans-${process.pid}.pdf`;
    // One message, one entry in plaintexts (the webhook test counts them): the caption holds the name.
    const caption = `the plans, in ${name}`;
    target().plaintexts.add(name);
    const got = [b!, c!].map((d) =>
      d.e2ee.waitFor('message', { timeoutMs: 10_000, filter: (m) => m.chat_id === chatId && m.files !== undefined }),
    );
    const { ack, file } = await a!.e2ee.sendFile(chatId, bytes, {
      name,
      contentType: 'application/pdf',
      text: caption,
      thumbnail: { bytes: thumb, contentType: 'image/png', width: 32, height: 24 },
    });
    assert.equal(file.size, bytes.length);
    assert.deepEqual([file.thumbnail?.width, file.thumbnail?.height, file.thumbnail?.content_type], [32, 24, 'image/png']);
    for (const [i, m] of (await Promise.all(got)).entries()) {
      const d = [b!, c!][i]!;
      assert.equal(m.text, caption);
      assert.deepEqual(m.files, [file]);
      assert.ok(Buffer.from(await d.e2ee.openFile(m.files[0]!)).equals(bytes), 'the file, byte for byte');
      assert.ok(Buffer.from(await d.e2ee.openFile(m.files[0]!.thumbnail!)).equals(thumb), 'the thumbnail, byte for byte');
    }

    // What the server has: media ids and sizes beside the ciphertext, nothing it made itself (no thumbnail, no dimensions).
    const stored = (await b!.client.rest.history(chatId, { limit: 10 })).messages.find((m) => m.message_id === ack.message_id)!;
    assert.equal(stored.content, '');
    assert.equal(typeof stored.ciphertext, 'string');
    const ids = [file.media_id, file.thumbnail!.media_id];
    assert.deepEqual(stored.attachments, [
      { media_id: ids[0], content_type: 'application/octet-stream', size: bytes.length + 16, filename: null },
      { media_id: ids[1], content_type: 'application/octet-stream', size: thumb.length + 16, filename: null },
    ]);
    // A member fetches the opaque bytes: the ciphertext the key travelled with, not the file.
    const raw = async (token: string, id: string) => fetch(`${node(1)}/v1/media/${id}`, { headers: { authorization: `Bearer ${token}` } });
    const served = await raw(c!.session.token, ids[0]!);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'application/octet-stream');
    const body = Buffer.from(await served.arrayBuffer());
    assert.equal(body.length, bytes.length + 16);
    assert.equal(createHash('sha256').update(body).digest('base64'), file.sha256);
    assert.equal(body.indexOf(Buffer.from(bytes.subarray(0, 64))), -1, 'the stored bytes are not the file');
    for (const id of ids) assert.equal(await target().media.holds(id), true);
    // Anyone else: as if it did not exist.
    for (const id of ids) assert.equal((await raw(outsider.token, id)).status, 404);

    // Plaintext media beside an encrypted send is refused (the server would read it, and thumbnail an image).
    const png = await a!.client.uploadMedia(zeroPng(64, 64, { bits: 8, colorType: 6, interlaced: false }), { contentType: 'image/png' });
    const named = await a!.client.uploadMedia(new Uint8Array(100), { contentType: 'application/octet-stream', filename: 'named.bin' });
    for (const id of [png, named])
      await assert.rejects(
        a!.client.send(chatId, '', { ciphertext: randomBytes(64).toString('base64'), attachments: [id] }),
        (e: { frame?: { code?: string } }) => e.frame?.code === 'invalid_attachment',
      );
    await assert.rejects(
      a!.client.send(chatId, '', { ciphertext: randomBytes(64).toString('base64'), replyTo: ack.message_id }),
      (e: { frame?: { code?: string } }) => e.frame?.code === 'encryption_required',
    );

    // Bytes altered in the store: the SHA-256 check refuses them before decrypting.
    await target().media.tamper(ids[1]!);
    await assert.rejects(b!.e2ee.openFile(file.thumbnail!), /SHA-256 mismatch/);

    // Delete for everyone erases the bytes: members cannot fetch them any more.
    await a!.client.deleteForEveryone(chatId, ack.message_id);
    for (const d of [a!, b!]) for (const id of ids) assert.equal((await raw(d.session.token, id)).status, 404);
    for (const id of ids) assert.equal(await target().media.holds(id), false, `the bytes of ${id} are erased`);
    await assert.rejects(c!.e2ee.openFile(file), (e: { status?: number }) => e.status === 404);
  });

  test('replies, mentions, edits and reactions travel inside the ciphertext; receivers apply only the changes the server would allow', async () => {
    const sessions = await Promise.all(Array.from({ length: 4 }, (_, i) => newAccount(node(i), `e2c${i}`)));
    const [a, b] = await Promise.all(sessions.slice(0, 2).map((s, i) => open(i, s)));
    // c keeps a 5 s edit window (EDIT_WINDOW_S shrunk): an edit after that is refused there, applied by b (900 s).
    const c = await open(2, sessions[2]!, { editWindowS: 5 });
    const outsider = sessions[3]!;
    const group = await a!.e2ee.createEncryptedGroup('changes', [b!.session.user_id, c.session.user_id]);
    const chatId = group.chat_id;
    for (const d of [b!, c]) await inGroup(d, chatId);
    const got: Record<string, { messages: DecryptedMessage[]; changes: DecryptedChange[] }> = {};
    for (const d of [a!, b!, c]) {
      const seen: (typeof got)[string] = { messages: [], changes: [] };
      got[d.session.user_id] = seen;
      d.e2ee.on('message', (m) => m.chat_id === chatId && seen.messages.push(m));
      d.e2ee.on('change', (ch) => ch.chat_id === chatId && seen.changes.push(ch));
    }
    const changeAt = (d: Device, filter: (ch: DecryptedChange) => boolean) =>
      d.e2ee.waitFor('change', { timeoutMs: 10_000, filter: (ch) => ch.chat_id === chatId && filter(ch) });
    // Collected from the start: a refusal may come before the change's own ack_sent.
    const refusals = new Map<Device, RefusedChange[]>();
    for (const d of [a!, b!, c]) {
      refusals.set(d, []);
      d.e2ee.on('refused_change', (r) => r.chat_id === chatId && refusals.get(d)!.push(r));
    }
    const refusedAt = async (d: Device, messageId: string) => {
      const found = () => refusals.get(d)!.find((r) => r.message_id === messageId);
      await waitUntil(() => found() !== undefined, 10_000, `a refused change at ${d.session.username}`);
      return found()!;
    };

    const [original] = await say(a!, [b!, c], chatId, 'the meeting is at ten, secret');
    const targetId = original!.message_id;

    // A reply with mentions: the server sees none of it; a mention of a non-member is dropped by the receivers.
    const replyText = 'ten suits me, secret reply';
    target().plaintexts.add(replyText);
    const replies = [a!, c].map((d) => d.e2ee.waitFor('message', { timeoutMs: 10_000, filter: (m) => m.text === replyText }));
    const replyAck = await b!.e2ee.send(chatId, replyText, { replyTo: targetId, mentions: [a!.session.user_id, outsider.user_id] });
    for (const m of await Promise.all(replies)) {
      assert.equal(m.reply_to, targetId);
      assert.deepEqual(m.mentions, [a!.session.user_id]);
    }
    const storedReply = (await c.client.rest.history(chatId, { limit: 10 })).messages.find((m) => m.message_id === replyAck.message_id)!;
    assert.equal(storedReply.reply_to, undefined);
    assert.equal(storedReply.mentions, undefined);

    // The sender edits: the others get a change (not a message) with the new text, at its own seq.
    const edited = 'the meeting moved to eleven, secret edit';
    target().plaintexts.add(edited);
    const edits = [b!, c].map((d) => changeAt(d, (ch) => ch.action === 'edit' && ch.text === edited));
    const editAck = await a!.e2ee.edit(chatId, targetId, edited);
    for (const ch of await Promise.all(edits)) {
      assert.deepEqual(
        [ch.target_message_id, ch.message_id, ch.seq, ch.sender_id, ch.sender_device_id],
        [targetId, editAck.message_id, editAck.seq, a!.session.user_id, a!.session.device_id],
      );
      assert.ok(ch.seq > original!.seq);
    }

    // Someone else's message, and a message nobody decrypted: not applied.
    const hijack = 'b rewrites the meeting, secret hijack';
    target().plaintexts.add(hijack);
    const hijackId = (await b!.e2ee.edit(chatId, targetId, hijack)).message_id;
    for (const r of await Promise.all([a!, c].map((d) => refusedAt(d, hijackId)))) {
      assert.deepEqual([r.reason, r.action, r.target_message_id, r.sender_id], ['not_the_sender', 'edit', targetId, b!.session.user_id]);
      assert.equal('text' in r, false);
    }
    target().plaintexts.add('an edit of nothing, secret');
    const unknownId = (await a!.e2ee.edit(chatId, crypto.randomUUID(), 'an edit of nothing, secret')).message_id;
    assert.equal((await refusedAt(b!, unknownId)).reason, 'unknown_target');

    // React, react again (replaces), take it back: any member may.
    target().plaintexts.add('🦩');
    const reacted = [a!, b!].map((d) => changeAt(d, (ch) => ch.action === 'react' && ch.emoji === '🦩'));
    await c.e2ee.react(chatId, replyAck.message_id, '🦩');
    for (const ch of await Promise.all(reacted))
      assert.deepEqual([ch.target_message_id, ch.sender_id], [replyAck.message_id, c.session.user_id]);
    const unreacted = [a!, b!].map((d) => changeAt(d, (ch) => ch.action === 'react' && ch.emoji === ''));
    await c.e2ee.react(chatId, replyAck.message_id, '');
    for (const ch of await Promise.all(unreacted)) assert.equal(ch.target_message_id, replyAck.message_id);
    await assert.rejects(c.e2ee.react(chatId, replyAck.message_id, '🦩'.repeat(9)), /at most 32 bytes/);

    // Past c's window (not b's): c refuses what b applies, each by the server's times.
    await new Promise((r) => setTimeout(r, 5_500));
    const late = 'a late edit, secret';
    target().plaintexts.add(late);
    const lateAtB = changeAt(b!, (ch) => ch.text === late);
    const lateId = (await a!.e2ee.edit(chatId, targetId, late)).message_id;
    assert.equal((await refusedAt(c, lateId)).reason, 'edit_window_passed');
    await lateAtB;

    // Delete for everyone (in the clear): the server erases the ciphertext; an edit after it counts nowhere.
    const deleted = [b!, c].map((d) =>
      d.client.waitFor('message_update', {
        timeoutMs: 10_000,
        filter: (e) => e.update.action === 'delete' && e.update.target_message_id === targetId,
      }),
    );
    await a!.client.deleteForEveryone(chatId, targetId);
    await Promise.all(deleted);
    const stored = (await b!.client.rest.history(chatId, { limit: 20 })).messages.find((m) => m.message_id === targetId)!;
    assert.equal(stored.deleted, true);
    assert.equal(stored.content, '');
    assert.equal(stored.ciphertext, undefined);
    const afterDelete = 'edited after its deletion, secret';
    target().plaintexts.add(afterDelete);
    const afterId = (await a!.e2ee.edit(chatId, targetId, afterDelete)).message_id;
    assert.equal((await refusedAt(b!, afterId)).reason, 'unknown_target');

    // Changes never came as messages.
    assert.deepEqual(
      got[b!.session.user_id]!.messages.map((m) => m.text),
      ['the meeting is at ten, secret'],
    );
    assert.deepEqual(
      got[c.session.user_id]!.changes.map((ch) => ch.text),
      [edited],
    );
    assert.deepEqual(
      got[b!.session.user_id]!.changes.map((ch) => ch.emoji ?? ch.text),
      [edited, '🦩', '', late],
    );
  });

  test("a server that names another sender than the ciphertext's is refused: no one's words (or edits) are passed off as another's", async () => {
    const sessions = await Promise.all(Array.from({ length: 3 }, (_, i) => newAccount(node(i), `e2s${i}`)));
    const [a, b] = await Promise.all(sessions.slice(0, 2).map((s, i) => open(i, s)));
    // c's server says every ciphertext of b's is a's.
    const c = await open(2, sessions[2]!, {
      rewrite: (f) => {
        if (f.type === 'new_message' && f.sender_id === b!.session.user_id) {
          f.sender_id = a!.session.user_id;
          f.sender_device_id = a!.session.device_id;
        }
      },
    });
    const group = await a!.e2ee.createEncryptedGroup('forged', [b!.session.user_id, c.session.user_id]);
    for (const d of [b!, c]) await inGroup(d, group.chat_id);
    const [original] = await say(a!, [b!, c], group.chat_id, 'a says this, secret');
    const seen: string[] = [];
    c.e2ee.on('message', (m) => seen.push(m.text));
    c.e2ee.on('change', (ch) => seen.push(ch.text ?? ''));
    const refused: { message_id: string; reason: string }[] = [];
    c.e2ee.on('undecryptable', (u) => refused.push(u));
    for (const send of [
      () => b!.e2ee.send(group.chat_id, 'b says this, not a, secret'),
      () => b!.e2ee.edit(group.chat_id, original!.message_id, 'b rewrites what a said, secret'),
    ]) {
      const { message_id } = await send();
      await waitUntil(() => refused.some((u) => u.message_id === message_id), 10_000, 'the forged sender refused');
      assert.match(refused.find((u) => u.message_id === message_id)!.reason, /another sender/);
    }
    target().plaintexts.add('b says this, not a, secret');
    target().plaintexts.add('b rewrites what a said, secret');
    assert.deepEqual(seen, []);
  });
}
