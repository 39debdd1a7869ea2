import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SEARCH_FILE, SqliteStore } from './sqlite-store.js';
import { sqliteMigrations } from './sqlite-migrations.js';
import type { AppendRequest, ChangeRequest } from './store.js';

/*
 * The search index in its own file, written by its own thread (sqlite-search-file.ts):
 * a search sees what was acknowledged before it, edits and erasures reach the index, and
 * the file is rebuilt from the store when it is missing, corrupt or left by an older version.
 */

const CHAT = 'dm:sa:sb';

async function users(store: SqliteStore): Promise<void> {
  for (const id of ['sa', 'sb']) await store.createUser({ id, username: `user-${id}`, displayName: id, passwordHash: 'x', createdAt: 1 });
}

let n = 0;
function send(content: string, createdAt = Date.now()): AppendRequest {
  n++;
  return {
    messageId: `m${n}`,
    chatId: CHAT,
    senderId: 'sa',
    senderDeviceId: 'dev-sa',
    clientMsgId: `c${n}`,
    content,
    createdAt,
    createDirectWith: ['sa', 'sb'],
  };
}

function change(targetId: string, action: 'edit' | 'delete', content?: string): ChangeRequest {
  n++;
  return {
    messageId: `x${n}`,
    chatId: CHAT,
    senderId: 'sa',
    senderDeviceId: 'dev-sa',
    clientMsgId: `cx${n}`,
    createdAt: Date.now(),
    targetId,
    action,
    content,
    editWindowMs: 60_000,
    deleteWindowMs: 60_000,
  };
}

const found = async (store: SqliteStore, word: string): Promise<string[]> =>
  (await store.search('sa', [word], { limit: 50 })).map((m) => m.content);

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'sb-sqlite-search-'));
}

test('sqlite search: found right after the send; an edit by its new words only; deleted and expired messages not at all', async () => {
  const dir = tempDir();
  const store = new SqliteStore(dir);
  try {
    await users(store);
    const [sent] = await store.append([send('alpha bravo charlie')]);
    assert.deepEqual(await found(store, 'bravo'), ['alpha bravo charlie'], 'right after the send');
    const id = sent!.message!.message_id;
    const edited = await store.applyChange(change(id, 'edit', 'delta echo'));
    assert.ok(!edited.refused);
    assert.deepEqual(await found(store, 'bravo'), [], 'the old words are gone');
    assert.deepEqual(await found(store, 'echo'), ['delta echo'], 'the new words find it');
    // Edited again before the indexer ran: the words of the middle version never match.
    await store.applyChange(change(id, 'edit', 'foxtrot golf'));
    await store.applyChange(change(id, 'edit', 'hotel india'));
    assert.deepEqual(await found(store, 'golf'), []);
    assert.deepEqual(await found(store, 'echo'), []);
    assert.deepEqual(await found(store, 'hotel'), ['hotel india']);

    const [gone] = await store.append([send('juliet kilo')]);
    assert.deepEqual(await found(store, 'juliet'), ['juliet kilo']);
    await store.applyChange(change(gone!.message!.message_id, 'delete'));
    assert.deepEqual(await found(store, 'juliet'), [], 'deleted for everyone');

    // Retention: every row so far has expired; then new messages come in their rowids.
    await store.append([send('lima mike one'), send('lima mike two')]);
    assert.equal((await found(store, 'lima')).length, 2);
    while ((await store.expireMessages(Date.now() + 1, 100)).more);
    assert.deepEqual(await found(store, 'lima'), [], 'expired');
    assert.deepEqual(await found(store, 'hotel'), [], 'expired');
    await store.append([send('lima november', Date.now() + 2)]);
    assert.deepEqual(await found(store, 'lima'), ['lima november'], 'a new message in an expired one’s rowid');
    assert.deepEqual(await found(store, 'mike'), []);
    // The index itself holds only what is there now (search also skips changes not applied: not here, it caught up).
    const index = new Database(path.join(dir, SEARCH_FILE), { readonly: true });
    try {
      const entries = (word: string) => index.prepare(`SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?`).all(word).length;
      for (const word of ['alpha', 'bravo', 'echo', 'golf', 'hotel', 'juliet', 'mike']) assert.equal(entries(word), 0, word);
      assert.equal(entries('november'), 1);
    } finally {
      index.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite search: a restart without the search file (or with a corrupt one) rebuilds it and finds the old messages', async () => {
  const dir = tempDir();
  let store = new SqliteStore(dir);
  try {
    await users(store);
    for (let i = 0; i < 5; i++) await store.append(Array.from({ length: 1000 }, (_, j) => send(`papa quebec ${i}-${j}`)));
    await store.append([send('romeo sierra')]);
    assert.deepEqual(await found(store, 'romeo'), ['romeo sierra']);
    await store.close();

    rmSync(path.join(dir, SEARCH_FILE));
    store = new SqliteStore(dir);
    assert.ok(existsSync(path.join(dir, SEARCH_FILE)), 'made anew');
    assert.deepEqual(await found(store, 'romeo'), ['romeo sierra'], 'after a rebuild');
    assert.equal((await store.search('sa', ['papa'], { limit: 10_000 })).length, 5000);
    await store.close();

    for (const suffix of ['-wal', '-shm']) rmSync(path.join(dir, SEARCH_FILE + suffix), { force: true });
    writeFileSync(path.join(dir, SEARCH_FILE), 'not a database at all, '.repeat(1000));
    store = new SqliteStore(dir);
    assert.deepEqual(await found(store, 'romeo'), ['romeo sierra'], 'after a corrupt file');
    assert.equal((await store.search('sa', ['quebec'], { limit: 10_000 })).length, 5000);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite search: applied changes leave the store; a store from before the search file drops its index and rebuilds it', async () => {
  const dir = tempDir();
  // A store at the last version with the index in its own file.
  const db = new Database(path.join(dir, 'switchboard.db'));
  const before = sqliteMigrations.findIndex((m) => m.includes('CREATE TABLE search_changes'));
  for (const [v, sql] of sqliteMigrations.slice(0, before).entries()) {
    db.exec(sql);
    db.pragma(`user_version = ${v + 1}`);
  }
  db.prepare(`INSERT INTO chats (id, kind, created_at, last_seq, last_at) VALUES (?, 'direct', 1, 1, 1)`).run(CHAT);
  for (const id of ['sa', 'sb']) {
    db.prepare(`INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, 'x', 1)`).run(id, `u-${id}`, id);
    db.prepare(
      `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq) VALUES (?, ?, 'member', 0, 1, 0, 0)`,
    ).run(CHAT, id);
  }
  const rowid = db
    .prepare(
      `INSERT INTO messages (id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at)
       VALUES ('old1', ?, 1, 'sa', 'dev-sa', 'c-old1', 'tango uniform', ?)`,
    )
    .run(CHAT, Date.now()).lastInsertRowid;
  db.prepare(`INSERT INTO messages_fts (rowid, content, chat) VALUES (?, 'tango uniform', ?)`).run(rowid, CHAT.replaceAll(':', 'x'));
  db.prepare('UPDATE search_progress SET last_rowid = ?').run(rowid);
  db.close();

  const store = new SqliteStore(dir);
  try {
    assert.deepEqual(await found(store, 'tango'), ['tango uniform'], 'rebuilt in the search file');
    const check = new Database(path.join(dir, 'switchboard.db'), { readonly: true });
    try {
      const tables = (check.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name);
      assert.ok(!tables.some((t) => t.startsWith('messages_fts') || t === 'search_progress' || t === 'search_erasures'), tables.join());
      const [sent] = await store.append([send('victor whiskey')]);
      await store.applyChange(change(sent!.message!.message_id, 'edit', 'xray yankee'));
      assert.deepEqual(await found(store, 'yankee'), ['xray yankee']);
      const left = () => (check.prepare('SELECT COUNT(*) AS n FROM search_changes').get() as { n: number }).n;
      assert.equal(left(), 1, 'the edit is listed until the store drops it');
      // Dropped by a background write within about a second of the indexer applying it.
      const deadline = Date.now() + 5000;
      while (left() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(left(), 0, 'applied changes are dropped');
      assert.deepEqual(await found(store, 'yankee'), ['xray yankee'], 'and the index keeps the edit');
    } finally {
      check.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite search: a search with nothing new writes nothing to the search file', async () => {
  const dir = tempDir();
  const store = new SqliteStore(dir);
  try {
    await users(store);
    await store.append([send('zulu alpha')]);
    assert.deepEqual(await found(store, 'zulu'), ['zulu alpha']);
    // The append's own poke (200 ms after it) runs first: it has nothing left either.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const files = [SEARCH_FILE, `${SEARCH_FILE}-wal`].map((f) => path.join(dir, f));
    const stamp = () => files.map((f) => (existsSync(f) ? `${statSync(f).size}@${statSync(f).mtimeMs}` : 'none')).join(' ');
    const before = stamp();
    for (let i = 0; i < 5; i++) assert.deepEqual(await found(store, 'zulu'), ['zulu alpha']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(stamp(), before, 'search.db and its WAL untouched');
    // Something new still reaches a search at once.
    await store.append([send('zulu bravo')]);
    assert.equal((await found(store, 'zulu')).length, 2);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite search: an indexer thread that cannot open the search file is logged, backs off, and gets a new file', async () => {
  const dir = tempDir();
  const logged: { msg: string; obj: Record<string, unknown> }[] = [];
  const note = (obj: object, msg: string) => logged.push({ msg, obj: obj as Record<string, unknown> });
  const store = new SqliteStore(dir, { warn: note, error: note });
  try {
    await users(store);
    await store.append([send('kilo lima')]);
    assert.deepEqual(await found(store, 'kilo'), ['kilo lima']);
    // The file replaced by one that is no database, then the thread stops: the next one cannot start.
    for (const suffix of ['', '-wal', '-shm']) rmSync(path.join(dir, SEARCH_FILE + suffix), { force: true });
    writeFileSync(path.join(dir, SEARCH_FILE), 'not a database at all, '.repeat(1000));
    const index = (store as unknown as { searchIndex: { worker: { terminate(): Promise<number> } } }).searchIndex;
    await index.worker.terminate();
    const deadline = Date.now() + 15_000;
    let words: string[] = [];
    while (Date.now() < deadline) {
      words = await found(store, 'kilo').catch(() => []);
      if (words.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.deepEqual(words, ['kilo lima'], 'rebuilt in a new file');
    const stops = logged.filter((l) => l.msg === 'the search indexer thread stopped');
    assert.ok(
      stops.some((l) => l.obj.started === false),
      JSON.stringify(logged),
    );
    // Backing off: each death in a row waits longer.
    const pauses = stops.map((l) => l.obj.restartInMs as number);
    assert.deepEqual(pauses.slice(0, 2), [1000, 2000]);
    await store.append([send('kilo mike')]);
    assert.equal((await found(store, 'kilo')).length, 2);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite search: a search file older than the store, or of another store, is rebuilt: an edit is not found by its old words', async () => {
  const dir = tempDir();
  const saved = tempDir();
  const other = tempDir();
  const searchFile = path.join(dir, SEARCH_FILE);
  const swap = (from: string) => {
    for (const suffix of ['-wal', '-shm']) rmSync(searchFile + suffix, { force: true });
    copyFileSync(from, searchFile);
  };
  let store = new SqliteStore(dir);
  try {
    await users(store);
    const [sent] = await store.append([send('oscar papa')]);
    assert.deepEqual(await found(store, 'oscar'), ['oscar papa']);
    await store.close();
    copyFileSync(searchFile, path.join(saved, SEARCH_FILE));

    store = new SqliteStore(dir);
    await store.applyChange(change(sent!.message!.message_id, 'edit', 'quartz river'));
    assert.deepEqual(await found(store, 'river'), ['quartz river']);
    // The edit's change applied and dropped from the store.
    const check = new Database(path.join(dir, 'switchboard.db'), { readonly: true });
    const left = () => (check.prepare('SELECT COUNT(*) AS n FROM search_changes').get() as { n: number }).n;
    const deadline = Date.now() + 5000;
    while (left() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(left(), 0);
    check.close();
    await store.close();

    // The copy from before the edit put back (a hand restore).
    swap(path.join(saved, SEARCH_FILE));
    store = new SqliteStore(dir);
    assert.deepEqual(await found(store, 'oscar'), [], 'not by its old words');
    assert.deepEqual(await found(store, 'river'), ['quartz river']);
    await store.close();

    // Another store's search file (same rowids, other words).
    const another = new SqliteStore(other);
    await users(another);
    await another.append([send('sierra tango')]);
    assert.deepEqual(await found(another, 'sierra'), ['sierra tango']);
    await another.close();
    swap(path.join(other, SEARCH_FILE));
    store = new SqliteStore(dir);
    assert.deepEqual(await found(store, 'sierra'), [], 'not by another store’s words');
    assert.deepEqual(await found(store, 'river'), ['quartz river']);
  } finally {
    await store.close();
    for (const d of [dir, saved, other]) rmSync(d, { recursive: true, force: true });
  }
});

test('sqlite search: long messages are indexed in passes capped by bytes', async () => {
  const dir = tempDir();
  const store = new SqliteStore(dir);
  try {
    await users(store);
    // 120 messages of 100,000 characters: 12 MB, more than one pass reads.
    for (let i = 0; i < 4; i++) await store.append(Array.from({ length: 30 }, (_, j) => send(`whiskey ${i}-${j} ${'x'.repeat(99_980)}`)));
    assert.equal((await store.search('sa', ['whiskey'], { limit: 500 })).length, 120);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
