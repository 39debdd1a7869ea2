import pg from 'pg';
import type { ReactionSummary } from '@switchboard/protocol';
import type { PoolClient } from 'pg';
import type {
  AppendRequest,
  AppendResult,
  ChangeRequest,
  ChangeResult,
  ChatListPage,
  ChatSettingsPatch,
  LogEntry,
  ChatListRow,
  ChatRecord,
  CursorAdvance,
  DeviceRecord,
  MemberRecord,
  Membership,
  MembershipRefusal,
  PendingChat,
  ReceiptRow,
  Role,
  Store,
  StoredMessage,
  UserRecord,
} from './store.js';
import { storedMessage } from './store.js';
import {
  M_MESSAGE_COLS,
  MESSAGE_COLS,
  toChat,
  toEntry,
  toMember,
  toMessage,
  toUser,
  type ChatRow,
  type MemberRow,
  type UserRow,
} from './rows.js';
import { PostgresMediaIndex } from './postgres-media.js';
import { PostgresAdminStore } from './postgres-admin.js';
import { PostgresPeople } from './postgres-people.js';
import { PostgresIdentities } from './postgres-identities.js';
import { applyChangePg, mutedMembersPg, reactionsPg, setChatSettingsPg } from './postgres-lifecycle.js';
import { migratePostgres } from './postgres-migrations.js';
import { PostgresWebhookStore, recordCreatedPg, recordEventPg, recordGroupPg, recordMessagePg } from './postgres-webhook-outbox.js';
import { userData } from './sqlite-webhook-outbox.js';
import { decodePushTarget, encodePushTarget, type PushTarget, type PushTargetRecord } from './push-targets.js';
import { WriteBatcher, type Outcome } from './write-batcher.js';
import {
  APPEND_FAST_SQL,
  APPEND_SQL,
  erasePreviewsOfDeleted,
  CURSOR_SQL,
  appendParams,
  createDirectChats,
  settleCursorMoves,
  type AppendRow,
  type CursorMove,
  type CursorMoved,
  type MemberCursorRow,
} from './postgres-batches.js';

/** Connections per node for reads and the rarer writes (accounts, devices, membership). */
const POOL_SIZE = 10;
/**
 * Bounds on one statement and on waiting for a connection (ms): a slow query (a search
 * over a huge chat) fails instead of holding a connection of the pool forever, and a
 * request that cannot get a connection fails instead of queueing without end. Writes
 * get longer: a batch of 1,000 appends is one statement. Migrations run without a bound.
 */
const READ_STATEMENT_TIMEOUT_MS = 10_000;
const WRITE_STATEMENT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** Appends get connections of their own (one batch runs at a time; the second covers a reconnect). */
const APPEND_POOL_SIZE = 2;
/** Cursor writes get a pool of their own, whose sessions commit without waiting for the WAL flush. */
const CURSOR_POOL_SIZE = 2;
/**
 * The batch statements' plans do not depend on their parameters (arrays of any length),
 * yet PostgreSQL would re-plan them per call while it weighs custom plans: planning cost
 * about as much CPU as running them.
 */
const GENERIC_PLANS = '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off';
/**
 * Write connections are replaced this often (seconds), so their generic plans are made
 * again with the tables' current statistics; seqscans are off on them for the same reason
 * (these statements only ever look rows up by key).
 */
const WRITE_CONNECTION_LIFETIME_S = 600;
/** Least time between two append batches (ms): under load, sends gather this long and share one statement and one commit. */
const APPEND_INTERVAL_MS = 4;
/** Least time between two cursor batches (ms): acks coalesce per (device, chat) and per member within it. */
const CURSOR_INTERVAL_MS = 20;
/** Appends or cursor moves per statement. */
const MAX_ITEMS_PER_STATEMENT = 1000;
/** Characters of content per append statement. */
const MAX_CONTENT_PER_STATEMENT = 4_000_000;
/** Writes per batch transaction: bounds how long one transaction holds its row locks. */
const MAX_WRITES_PER_BATCH = 500;
/** Rounds of re-checking sends whose chat's membership changed under them, before giving up. */
const STALE_ROUNDS = 3;
/** What one append statement answers per send: stored, a duplicate, or checked against an old membership. */
type RawAppend = AppendResult | { stale: true };
/** How often a write that hit a deadlock or a concurrent duplicate is tried in all. */
const WRITE_ATTEMPTS = 2;
/** SQLSTATEs worth one more try: deadlock, serialization failure, unique violation (a duplicate send racing on another node). */
const RETRYABLE_CODES = new Set(['40P01', '40001', '23505']);

const INT8_OID = 20;
/**
 * bigint columns (seqs, millisecond times, counts) as JS numbers: all stay far below
 * 2^53. Set per pool, not on the global pg.types, so other pg users are unaffected.
 */
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

type Tx = Pick<PoolClient, 'query'>;

interface ChatListQueryRow extends ChatRow, MemberRow {
  last_at: number;
  unread: number;
  last_message: StoredMessage | null;
}

/**
 * Where a write takes its row locks, for ordering the writes of a batch. Rank 0 is a
 * chat row (append, membership changes, rename), rank 1 a member row of that chat
 * (cursors, roles). Every node runs a batch in this order, so two nodes' transactions
 * take the locks they share in the same order and cannot deadlock on each other.
 */
type LockKey = readonly [scope: 'chat' | 'user' | 'device', id: string, rank: 0 | 1, sub: string];

function compareKeys(a: LockKey, b: LockKey): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface QueuedWrite {
  key: LockKey;
  run: (tx: Tx) => Promise<unknown>;
}

function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE_CODES.has((err as { code?: string }).code ?? '');
}

/** A tsquery in which every term must match a word by prefix. Terms arrive as letters and digits; quoting still keeps tsquery syntax out. */
export function prefixQuery(terms: string[]): string {
  return terms.map((t) => `'${t.replace(/['\\]/g, '')}':*`).join(' & ');
}

/**
 * The cluster-mode store: PostgreSQL, shared by every node.
 *
 * The hot writes are batched per node into set-based statements (arrays and UNNEST,
 * prepared once per connection), one round trip per batch:
 * - Appends: every send queued while the previous batch committed goes into one
 *   statement that skips duplicates, locks the chats' rows in id order (so two nodes'
 *   batches cannot deadlock), checks each chat's membership version, takes a run of
 *   seqs per chat from last_seq and inserts the messages. Seqs stay gap-free and
 *   strictly increasing per chat: last_seq moves under the row lock, and a rolled-back
 *   statement rolls its bump back too. append() resolves after the commit, which is
 *   durable (synchronous_commit on). Batches start at most every APPEND_INTERVAL_MS.
 * - Cursor moves (delivered and read acks): coalesced per device and per member, then
 *   one statement, on a pool whose sessions commit with synchronous_commit off: a
 *   cursor lost in a crash only means a message is delivered again, which the
 *   at-least-once contract allows. Batches start at most every CURSOR_INTERVAL_MS.
 * If a batch statement fails, it is tried once more when the failure is a race
 * (deadlock, serialization, a duplicate committed meanwhile on another node), and
 * otherwise each item is run alone, so one bad item fails only itself.
 *
 * Everything else (accounts, devices, membership changes) is rare and goes through a
 * general group commit: queued writes run in one transaction, sorted by LockKey; if
 * any fails, the batch re-runs with each write in its own savepoint. (Savepoints only
 * on that path: every savepoint that writes gets a subtransaction id, and more than 64
 * of them in one open transaction slow every other session's snapshots.)
 *
 * Membership: every change locks the chat's row, applies its checks (admin, size cap,
 * last admin) with statements issued after the lock (so they see every change committed
 * before it) and bumps members_version. The append statement compares that version, read
 * under the same lock, with the one the node checked the sender against: the check and
 * the seq are one atomic step, whichever node changed the membership.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly appendPool: pg.Pool;
  private readonly cursorPool: pg.Pool;
  /** The rarer writes (accounts, devices, membership): any statements, one transaction per batch. */
  private readonly writes = new WriteBatcher<QueuedWrite, unknown>((batch) => this.commitBatch(batch), {
    maxItems: MAX_WRITES_PER_BATCH,
    minIntervalMs: 0,
  });
  private readonly appends = new WriteBatcher<AppendRequest, AppendResult>((batch) => this.appendBatch(batch), {
    maxItems: MAX_ITEMS_PER_STATEMENT,
    // 1,000 maximum-size sends would be 100 M characters in one statement.
    maxWeight: MAX_CONTENT_PER_STATEMENT,
    weight: (req) => req.content.length,
    minIntervalMs: APPEND_INTERVAL_MS,
  });
  private readonly cursors = new WriteBatcher<CursorMove, CursorMoved>((batch) => this.cursorBatch(batch), {
    maxItems: MAX_ITEMS_PER_STATEMENT,
    minIntervalMs: CURSOR_INTERVAL_MS,
  });
  /** Transactions committed and writes in them, for metrics and benchmarks. */
  readonly commitStats = { commits: 0, writes: 0, isolatedRetries: 0 };
  readonly media: PostgresMediaIndex;
  readonly admin: PostgresAdminStore;
  readonly people: PostgresPeople;
  readonly identities: PostgresIdentities;
  readonly webhooks: PostgresWebhookStore;

  constructor(connectionString: string) {
    this.pool = new pg.Pool({
      connectionString,
      max: POOL_SIZE,
      types: pgTypes,
      statement_timeout: READ_STATEMENT_TIMEOUT_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    this.appendPool = new pg.Pool({
      ...withOptions(connectionString, GENERIC_PLANS),
      max: APPEND_POOL_SIZE,
      statement_timeout: WRITE_STATEMENT_TIMEOUT_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      maxLifetimeSeconds: WRITE_CONNECTION_LIFETIME_S,
      types: pgTypes,
    });
    this.cursorPool = new pg.Pool({
      ...withOptions(connectionString, `${GENERIC_PLANS} -c synchronous_commit=off`),
      max: CURSOR_POOL_SIZE,
      statement_timeout: WRITE_STATEMENT_TIMEOUT_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      maxLifetimeSeconds: WRITE_CONNECTION_LIFETIME_S,
      types: pgTypes,
    });
    this.media = new PostgresMediaIndex(this.pool);
    this.admin = new PostgresAdminStore(this.pool);
    this.people = new PostgresPeople(this.pool);
    this.identities = new PostgresIdentities(this.pool);
    this.webhooks = new PostgresWebhookStore(this.pool);
    for (const pool of [this.pool, this.appendPool, this.cursorPool]) {
      pool.on('connect', preparePerConnection);
      // An idle connection dropped by the server must not crash the process; the pool replaces it.
      pool.on('error', () => undefined);
    }
  }

  /** Connects and brings the schema up to date. */
  static async open(connectionString: string): Promise<PostgresStore> {
    const store = new PostgresStore(connectionString);
    try {
      const client = await store.pool.connect();
      try {
        await client.query('SET statement_timeout = 0');
        await migratePostgres(client);
        await client.query(`SET statement_timeout = ${READ_STATEMENT_TIMEOUT_MS}`);
      } finally {
        client.release();
      }
    } catch (err) {
      await store.endPools();
      throw err;
    }
    return store;
  }

  async close(): Promise<void> {
    await Promise.all([this.appends.drain(), this.cursors.drain(), this.writes.drain()]);
    await this.endPools();
  }

  private async endPools(): Promise<void> {
    await Promise.all([this.pool.end(), this.appendPool.end(), this.cursorPool.end()]);
  }

  // ---- group commit ----

  /** Queues a write for the next batch transaction. */
  private write<T>(key: LockKey, run: (tx: Tx) => Promise<T>): Promise<T> {
    return this.writes.add({ key, run }) as Promise<T>;
  }

  /** Commits one batch; answers each write's outcome, in batch order. Rejects (every write fails) when the transaction itself does. */
  private async commitBatch(batch: QueuedWrite[]): Promise<Outcome<unknown>[]> {
    // A stable sort: writes with equal keys keep their queue order.
    const order = batch.map((w, i) => ({ w, i })).sort((a, b) => compareKeys(a.w.key, b.w.key));
    const ordered = order.map((o) => o.w);
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      let outcomes = await this.runTogether(client, ordered);
      if (!outcomes) {
        this.commitStats.isolatedRetries++;
        outcomes = await this.runIsolated(client, ordered);
      }
      this.commitStats.commits++;
      this.commitStats.writes += ordered.length;
      const inBatchOrder = new Array<Outcome<unknown>>(batch.length);
      order.forEach(({ i }, k) => (inBatchOrder[i] = outcomes[k]!));
      return inBatchOrder;
    } catch (err) {
      // BEGIN, a savepoint command or COMMIT failed (or the connection did): nothing in
      // this batch is known to be durable.
      broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** The fast path: the whole batch in one transaction, no savepoints. Null when any write failed (rolled back). */
  private async runTogether(client: PoolClient, ordered: QueuedWrite[]): Promise<Outcome<unknown>[] | null> {
    await client.query('BEGIN');
    const outcomes: Outcome<unknown>[] = [];
    for (const w of ordered) {
      try {
        outcomes.push({ ok: true, value: await w.run(client) });
      } catch {
        await client.query('ROLLBACK');
        return null;
      }
    }
    await client.query('COMMIT');
    return outcomes;
  }

  /** The batch again, each write in its own savepoint, so a failing write fails alone. */
  private async runIsolated(client: PoolClient, ordered: QueuedWrite[]): Promise<Outcome<unknown>[]> {
    await client.query('BEGIN');
    const outcomes: Outcome<unknown>[] = [];
    for (const w of ordered) outcomes.push(await this.runInSavepoint(client, w));
    await client.query('COMMIT');
    return outcomes;
  }

  private async runInSavepoint(client: PoolClient, w: QueuedWrite): Promise<Outcome<unknown>> {
    for (let attempt = 1; ; attempt++) {
      await client.query('SAVEPOINT write');
      try {
        const value = await w.run(client);
        await client.query('RELEASE SAVEPOINT write');
        return { ok: true, value };
      } catch (error) {
        await client.query('ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write');
        // A deadlock victim or a duplicate that committed on another node meanwhile:
        // a second run sees the committed state (the duplicate then reads as one).
        if (attempt < WRITE_ATTEMPTS && isRetryable(error)) continue;
        return { ok: false, error };
      }
    }
  }

  // ---- users and devices ----

  async createUser(user: Omit<UserRecord, 'lastSeen'>): Promise<UserRecord | 'username_taken'> {
    return this.write(['user', user.id, 0, ''], async (tx) => {
      const { rowCount } = await tx.query(
        `INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (username) DO NOTHING`,
        [user.id, user.username, user.displayName, user.passwordHash, user.createdAt],
      );
      if (rowCount === 0) return 'username_taken' as const;
      if (this.webhooks.recording.has('user.created')) await recordEventPg(tx, 'user.created', userData(user), user.createdAt);
      return { ...user, lastSeen: null };
    });
  }

  async getUser(id: string): Promise<UserRecord | null> {
    // A deleted account is no user any more (its row stays for the ids its erased messages carry).
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL', [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async getUserByUsername(username: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async missingUsers(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM users WHERE id = ANY($1::text[]) AND deleted_at IS NULL', [ids]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }

  async setLastSeen(userId: string, at: number): Promise<void> {
    await this.write(['user', userId, 0, ''], (tx) =>
      tx.query('UPDATE users SET last_seen = GREATEST(COALESCE(last_seen, 0), $1) WHERE id = $2', [at, userId]),
    );
  }

  async setPasswordHash(userId: string, from: string, to: string): Promise<void> {
    await this.write(['user', userId, 0, ''], (tx) =>
      tx.query('UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [to, userId, from]),
    );
  }

  async createDevice(d: DeviceRecord & { tokenHash: string }): Promise<boolean> {
    return this.write(['device', d.id, 0, ''], async (tx) => {
      // FOR SHARE: a suspension (which takes the user's row FOR UPDATE, then ends the
      // sessions in a later statement) either commits first, and this sees it, or waits
      // for this commit and then ends this session too.
      const { rowCount } = await tx.query(
        `INSERT INTO devices (id, user_id, name, token_hash, created_at)
         SELECT $1, u.id, $3, $4, $5 FROM (SELECT id FROM users WHERE id = $2 AND NOT suspended AND deleted_at IS NULL FOR SHARE) u`,
        [d.id, d.userId, d.name, d.tokenHash, d.createdAt],
      );
      if (rowCount !== 1) return false;
      // A new device is owed only what comes after it: start its cursors at each chat's end.
      await tx.query(
        `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
         SELECT $1, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = $2`,
        [d.id, d.userId],
      );
      return true;
    });
  }

  async deviceByTokenHash(tokenHash: string): Promise<(DeviceRecord & { lastActiveAt: number | null; permanent?: boolean }) | null> {
    const { rows } = await this.pool.query<{
      id: string;
      user_id: string;
      name: string;
      created_at: number;
      last_active_at: number | null;
      bot: boolean;
    }>(
      `SELECT d.id, d.user_id, d.name, d.created_at, d.last_active_at, u.bot FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.token_hash = $1 AND d.revoked_at IS NULL AND NOT u.suspended AND u.deleted_at IS NULL`,
      [tokenHash],
    );
    const r = rows[0];
    if (!r) return null;
    const d = { id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at, lastActiveAt: r.last_active_at };
    return r.bot ? { ...d, permanent: true } : d;
  }

  async revokeDevice(deviceId: string, at: number): Promise<void> {
    await this.write(['device', deviceId, 0, ''], async (tx) => {
      await tx.query('UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, deviceId]);
      await tx.query('DELETE FROM push_targets WHERE device_id = $1', [deviceId]);
    });
  }

  async listDevices(userId: string, limit: number): Promise<(DeviceRecord & { lastActiveAt: number | null })[]> {
    const { rows } = await this.pool.query<{
      id: string;
      user_id: string;
      name: string;
      created_at: number;
      last_active_at: number | null;
    }>(
      'SELECT id, user_id, name, created_at, last_active_at FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id LIMIT $2',
      [userId, limit],
    );
    return rows.map((r) => ({ id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at, lastActiveAt: r.last_active_at }));
  }

  async revokeUserDevice(userId: string, deviceId: string, at: number): Promise<boolean> {
    return this.write(['device', deviceId, 0, ''], async (tx) => {
      const { rowCount } = await tx.query('UPDATE devices SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL', [
        at,
        deviceId,
        userId,
      ]);
      // A revoked session's push credentials go with it, as on logout.
      if (rowCount === 1) await tx.query('DELETE FROM push_targets WHERE device_id = $1', [deviceId]);
      return rowCount === 1;
    });
  }

  async touchDevice(deviceId: string, at: number): Promise<void> {
    await this.write(['device', deviceId, 0, ''], (tx) =>
      tx.query('UPDATE devices SET last_active_at = $1 WHERE id = $2 AND COALESCE(last_active_at, 0) < $1', [at, deviceId]),
    );
  }

  // ---- chats and members ----

  async getChat(chatId: string): Promise<ChatRecord | null> {
    const { rows } = await this.pool.query<ChatRow>('SELECT * FROM chats WHERE id = $1', [chatId]);
    return rows[0] ? toChat(rows[0]) : null;
  }

  async getMember(chatId: string, userId: string): Promise<MemberRecord | null> {
    const { rows } = await this.pool.query<MemberRow>('SELECT * FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
    return rows[0] ? toMember(rows[0]) : null;
  }

  async getMembers(chatId: string): Promise<MemberRecord[]> {
    const { rows } = await this.pool.query<MemberRow>('SELECT * FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id', [
      chatId,
    ]);
    return rows.map(toMember);
  }

  async listChats(userId: string, page?: ChatListPage): Promise<ChatListRow[]> {
    const { rows } = await this.pool.query<ChatListQueryRow>(
      `SELECT c.*, cm.user_id, cm.role, cm.joined_seq, cm.joined_at, cm.delivered_seq, cm.read_seq, cm.muted_until, cm.archived, cm.pinned,
         (SELECT row_to_json(lm) FROM (
            SELECT ${MESSAGE_COLS} FROM messages m
            WHERE m.chat_id = c.id AND m.seq > cm.joined_seq AND m.kind = 'message' ORDER BY m.seq DESC LIMIT 1) lm) AS last_message,
         (SELECT count(*) FROM messages m
            WHERE m.chat_id = c.id AND m.seq > GREATEST(cm.read_seq, cm.joined_seq) AND m.sender_id <> cm.user_id
              AND m.kind = 'message') AS unread
       FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
       WHERE cm.user_id = $1 AND ($2::bigint IS NULL OR cm.pinned < $5
         OR (cm.pinned = $5 AND (c.last_at < $2 OR (c.last_at = $2 AND c.id > $3))))
       ORDER BY cm.pinned DESC, c.last_at DESC, c.id LIMIT $4`,
      [userId, page?.after?.lastAt ?? null, page?.after?.chatId ?? null, page?.limit ?? null, page?.after?.pinned ?? false],
    );
    // row_to_json renders bigint columns as JSON numbers, so last_message arrives typed.
    return rows.map((r) => ({
      chat: toChat(r),
      lastAt: r.last_at,
      member: toMember(r),
      lastMessage: r.last_message && toMessage(r.last_message),
      unreadCount: r.unread,
    }));
  }

  async shareAChat(a: string, b: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM chat_members x JOIN chat_members y ON x.chat_id = y.chat_id WHERE x.user_id = $1 AND y.user_id = $2 LIMIT 1',
      [a, b],
    );
    return (rowCount ?? 0) > 0;
  }

  async createGroup(g: { chatId: string; name: string; createdBy: string; createdAt: number; members: { userId: string; role: Role }[] }) {
    const hook = this.webhooks.recording.has('group.updated');
    await this.write(['chat', g.chatId, 0, ''], async (tx) => {
      await tx.query(
        `WITH chat AS (
           INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES ($1, 'group', $2, $3, $4, 0, $4) RETURNING id)
         INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
         SELECT chat.id, m.user_id, m.role, 0, $4, 0, 0 FROM chat, unnest($5::text[], $6::text[]) AS m(user_id, role)
         ON CONFLICT (chat_id, user_id) DO NOTHING`,
        [g.chatId, g.name, g.createdBy, g.createdAt, g.members.map((m) => m.userId), g.members.map((m) => m.role)],
      );
      if (hook) await recordGroupPg(tx, g.chatId, g.createdAt);
    });
  }

  async getMembership(chatId: string): Promise<Membership | null> {
    // One statement, one snapshot: the version and the members always belong together.
    const { rows } = await this.pool.query<MemberRow & { members_version: number; member: string | null }>(
      `SELECT c.members_version, cm.user_id AS member, cm.* FROM chats c LEFT JOIN chat_members cm ON cm.chat_id = c.id
       WHERE c.id = $1 ORDER BY cm.joined_at, cm.user_id`,
      [chatId],
    );
    if (rows.length === 0) return null;
    return { version: rows[0]!.members_version, members: rows.filter((r) => r.member !== null).map(toMember) };
  }

  /** Locks the chat's row; the statements after it see every change committed before the lock. */
  private async lockChat(tx: Tx, chatId: string): Promise<{ last_seq: number } | null> {
    const { rows } = await tx.query<{ last_seq: number }>('SELECT last_seq FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
    return rows[0] ?? null;
  }

  private async roleOf(tx: Tx, chatId: string, userId: string): Promise<Role | null> {
    const { rows } = await tx.query<{ role: Role }>('SELECT role FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
    return rows[0]?.role ?? null;
  }

  async addMembers(chatId: string, actorId: string, userIds: string[], at: number, maxMembers: number) {
    const unique = [...new Set(userIds)];
    return this.write(['chat', chatId, 0, ''], async (tx): Promise<{ added: string[] } | MembershipRefusal> => {
      const chat = await this.lockChat(tx, chatId);
      const role = chat && (await this.roleOf(tx, chatId, actorId));
      if (!chat || !role) return 'no_such_group';
      if (role !== 'admin') return 'forbidden';
      const { rows: present } = await tx.query<{ user_id: string }>('SELECT user_id FROM chat_members WHERE chat_id = $1', [chatId]);
      const have = new Set(present.map((r) => r.user_id));
      const fresh = unique.filter((id) => !have.has(id));
      if (have.size + fresh.length > maxMembers) return 'too_large';
      if (fresh.length === 0) return { added: [] };
      // A member added now is owed only what is sent after joining.
      await tx.query(
        `WITH added AS (
           INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
           SELECT $1, u, 'member', $2, $3, $2, $2 FROM unnest($4::text[]) AS u)
         UPDATE chats SET members_version = members_version + 1 WHERE id = $1`,
        [chatId, chat.last_seq, at, fresh],
      );
      if (this.webhooks.recording.has('group.updated')) await recordGroupPg(tx, chatId, at);
      return { added: fresh };
    });
  }

  async removeMember(chatId: string, actorId: string, userId: string) {
    return this.write(['chat', chatId, 0, ''], async (tx): Promise<'removed' | MembershipRefusal> => {
      const chat = await this.lockChat(tx, chatId);
      const role = chat && (await this.roleOf(tx, chatId, actorId));
      if (!chat || !role) return 'no_such_group';
      if (actorId !== userId && role !== 'admin') return 'forbidden';
      const { rowCount } = await tx.query('DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
      if ((rowCount ?? 0) === 0) return 'not_a_member';
      // With no admin left, the oldest member becomes one: under the chat's lock, so two
      // admins leaving at once see each other's leave and the group keeps an admin.
      await tx.query(
        `WITH promoted AS (
           UPDATE chat_members SET role = 'admin'
           WHERE chat_id = $1 AND NOT EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $1 AND role = 'admin')
             AND user_id = (SELECT user_id FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id LIMIT 1))
         UPDATE chats SET members_version = members_version + 1 WHERE id = $1`,
        [chatId],
      );
      if (this.webhooks.recording.has('group.updated')) await recordGroupPg(tx, chatId, Date.now());
      return 'removed';
    });
  }

  async renameGroup(chatId: string, name: string): Promise<void> {
    await this.write(['chat', chatId, 0, ''], async (tx) => {
      await tx.query('UPDATE chats SET name = $1 WHERE id = $2', [name, chatId]);
      if (this.webhooks.recording.has('group.updated')) await recordGroupPg(tx, chatId, Date.now());
    });
  }

  // ---- messages ----

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    return Promise.all(requests.map((req) => this.appends.add(req)));
  }

  /**
   * Runs one batch of appends: one statement and one commit (two of each when it creates
   * direct chats). Sends whose chat changed membership since their check are checked again
   * against the new members and appended again before this run ends, so they keep their
   * place before every later send of this node.
   */
  private async appendBatch(batch: AppendRequest[]): Promise<Outcome<AppendResult>[]> {
    // The same send twice in one batch: the later copy answers as a duplicate of the first.
    const firstOf = new Map<string, number>();
    const unique: AppendRequest[] = [];
    const copy: boolean[] = [];
    const slot = batch.map((req) => {
      const key = `${req.chatId}\u0000${req.senderId}\u0000${req.clientMsgId}`;
      let i = firstOf.get(key);
      copy.push(i !== undefined);
      if (i === undefined) firstOf.set(key, (i = unique.push(req) - 1));
      return i;
    });
    const results = await this.appendChecked(unique);
    return batch.map((_, n) => {
      const r = results[slot[n]!]!;
      return copy[n] && r.ok && r.value.message ? { ok: true, value: { message: r.value.message, duplicate: true } } : r;
    });
  }

  /** Appends, settling every stale membership check: re-checked against the chat's current members, then appended again. */
  private async appendChecked(requests: AppendRequest[]): Promise<Outcome<AppendResult>[]> {
    const outcomes = await this.appendUnique(requests);
    for (let round = 1; ; round++) {
      const stale = outcomes.flatMap((o, i) => (o.ok && 'stale' in o.value ? [i] : []));
      if (stale.length === 0) return outcomes as Outcome<AppendResult>[];
      if (round > STALE_ROUNDS) {
        for (const i of stale)
          outcomes[i] = { ok: false, error: new Error(`membership of ${requests[i]!.chatId} kept changing during a send`) };
        continue;
      }
      const current = await this.memberships([...new Set(stale.map((i) => requests[i]!.chatId))]);
      const again: number[] = [];
      for (const i of stale) {
        const req = requests[i]!;
        const chat = current.get(req.chatId);
        if (!chat?.members.has(req.senderId)) outcomes[i] = { ok: true, value: { notMember: true } };
        else again.push(i);
      }
      const retried = await this.appendUnique(
        again.map((i) => ({ ...requests[i]!, membersVersion: current.get(requests[i]!.chatId)!.version })),
      );
      again.forEach((i, k) => (outcomes[i] = retried[k]!));
    }
  }

  /** Several chats' versions and member ids, each read in one snapshot with its version. */
  private async memberships(chatIds: string[]): Promise<Map<string, { version: number; members: Set<string> }>> {
    const { rows } = await this.pool.query<{ id: string; members_version: number; members: string[] }>(
      `SELECT c.id, c.members_version, array_remove(array_agg(cm.user_id), NULL) AS members
       FROM chats c LEFT JOIN chat_members cm ON cm.chat_id = c.id WHERE c.id = ANY($1::text[]) GROUP BY c.id`,
      [chatIds],
    );
    return new Map(rows.map((r) => [r.id, { version: r.members_version, members: new Set(r.members) }]));
  }

  private async appendUnique(requests: AppendRequest[], attempt = 1): Promise<Outcome<RawAppend>[]> {
    if (requests.length === 0) return [];
    try {
      // First without the duplicate probe: a repeated send fails the statement (unique
      // violation, retryable) and the next attempt probes.
      return await this.appendStatement(requests, attempt > 1);
    } catch (error) {
      // The probe-less first attempt does not count against the tries a race gets.
      if (attempt <= WRITE_ATTEMPTS && isRetryable(error)) return this.appendUnique(requests, attempt + 1);
      // Not an SQL error (the connection failed): every send of the batch fails; they are
      // idempotent, so the clients' resends are safe. Running them one by one would only
      // wait out the same failure once per send.
      if (requests.length === 1 || (error as { code?: string }).code === undefined) return requests.map(() => ({ ok: false, error }));
      // Something in the batch is refused: run each alone, so only that one fails.
      this.commitStats.isolatedRetries++;
      const outcomes: Outcome<RawAppend>[] = [];
      for (const req of requests) outcomes.push(...(await this.appendUnique([req])));
      return outcomes;
    }
  }

  private async appendStatement(requests: AppendRequest[], probe: boolean): Promise<Outcome<RawAppend>[]> {
    const client = await this.appendPool.connect();
    let broken: Error | undefined;
    const sql = probe ? APPEND_SQL : APPEND_FAST_SQL;
    // With a webhook wanting message.created, the statement and the events share a transaction (two more round trips).
    const hook = this.webhooks.recording.has('message.created');
    const replies = requests.some((r) => r.replyTo);
    let open = false;
    try {
      const creating = requests.filter((r) => r.createDirectWith);
      // The first message of a direct chat creates the chat first, in a statement of its
      // own: both users' first messages often come at once through different nodes, and
      // in one transaction with the append the second node's whole batch (every other
      // send of that node) waited for the first node's commit. Alone, the create waits at
      // most for the other node's create. Only a store failure between the two (the
      // sender and the other user were checked before) leaves the chat without messages:
      // then listed, empty, for both users, who can already message each other anyway.
      if (creating.length > 0) {
        await createDirectChats(client, creating);
        this.commitStats.commits++;
      }
      // Replies and webhook events share the append's transaction (two more round trips).
      if (hook || replies) {
        await client.query('BEGIN');
        open = true;
      }
      const rows = (await client.query<AppendRow>(sql, appendParams(requests))).rows;
      this.commitStats.commits++;
      this.commitStats.writes += requests.length;
      const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
      const results: (RawAppend | null)[] = requests.map((req, i) => {
        const row = byOrd.get(i + 1);
        if (row?.seq == null) return null;
        const membersVersion = req.membersVersion === undefined ? undefined : Number(row.members_version);
        return { duplicate: false, message: storedMessage(req, Number(row.seq)), membersVersion };
      });
      if (replies) {
        const fresh = results.flatMap((r) => (r && 'message' in r && r.message && !r.duplicate ? [r.message] : []));
        const emptied = await erasePreviewsOfDeleted(
          client,
          fresh.flatMap((m) => (m.reply_to ? [{ chatId: m.chat_id, seq: m.seq, replyToId: m.reply_to.message_id }] : [])),
        );
        // What goes out (the live frame, the webhook event) is what was stored.
        for (const m of fresh) if (m.reply_to && emptied.has(m.message_id)) m.reply_to = { ...m.reply_to, preview: '' };
      }
      // Not stored: a duplicate of an earlier send, a stale membership check, or no such chat.
      const unsettled = requests.flatMap((req, i) => (results[i] ? [] : [{ req, i }]));
      if (unsettled.length > 0) {
        const existing = await this.existingMessages(
          client,
          unsettled.map((u) => u.req),
        );
        for (const { req, i } of unsettled) {
          const found = existing.get(`${req.chatId}\u0000${req.senderId}\u0000${req.clientMsgId}`);
          const locked = byOrd.get(i + 1)?.members_version;
          if (found) results[i] = { message: found, duplicate: true };
          else if (locked != null) results[i] = { stale: true };
        }
      }
      if (open) {
        await recordCreatedPg(
          client,
          results.flatMap((r) => (r && 'message' in r && r.message && !r.duplicate ? [r.message] : [])),
        );
        await client.query('COMMIT');
        open = false;
      }
      return results.map((value, i) =>
        value ? { ok: true, value } : { ok: false, error: new Error(`chat ${requests[i]!.chatId} does not exist`) },
      );
    } catch (err) {
      if ((err as { code?: string }).code === undefined) broken ??= err as Error; // a connection failure, not an SQL error
      // A failed ROLLBACK means the connection is unusable: it must not go back to the pool.
      if (open)
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken ??= rollbackErr as Error;
        });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async existingMessages(client: Tx, requests: AppendRequest[]): Promise<Map<string, StoredMessage>> {
    const { rows } = await client.query<StoredMessage>(
      `SELECT ${M_MESSAGE_COLS} FROM unnest($1::text[], $2::text[], $3::text[]) AS k(chat_id, sender_id, client_msg_id)
       JOIN messages m ON m.chat_id = k.chat_id AND m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id`,
      [requests.map((r) => r.chatId), requests.map((r) => r.senderId), requests.map((r) => r.clientMsgId)],
    );
    return new Map(rows.map(toMessage).map((m) => [`${m.chat_id}\u0000${m.sender_id}\u0000${m.client_msg_id}`, m]));
  }

  async getMessage(messageId: string): Promise<LogEntry | null> {
    return (await this.getMessages([messageId]))[0] ?? null;
  }

  async getMessages(messageIds: string[]): Promise<LogEntry[]> {
    const ids = [...new Set(messageIds)];
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query(
      `SELECT ${M_MESSAGE_COLS} FROM message_ids i JOIN messages m ON m.chat_id = i.chat_id AND m.seq = i.seq WHERE i.id = ANY($1::text[])`,
      [ids],
    );
    const byId = new Map(rows.map(toEntry).map((m) => [m.message_id, m]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async history(chatId: string, opts: { after?: number; before?: number; limit: number; minSeq: number }): Promise<StoredMessage[]> {
    const upper = opts.before ?? Number.MAX_SAFE_INTEGER;
    if (opts.after !== undefined) {
      return this.messages(
        `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 AND kind = 'message' ORDER BY seq ASC LIMIT $4`,
        [chatId, Math.max(opts.after, opts.minSeq), upper, opts.limit],
      );
    }
    return this.messages(
      `SELECT * FROM (SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 AND kind = 'message'
         ORDER BY seq DESC LIMIT $4) page ORDER BY seq ASC`,
      [chatId, opts.minSeq, upper, opts.limit],
    );
  }

  async range(chatId: string, afterSeq: number, uptoSeq: number, limit: number): Promise<LogEntry[]> {
    const { rows } = await this.pool.query(
      `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq ASC LIMIT $4`,
      [chatId, afterSeq, uptoSeq, limit],
    );
    return rows.map(toEntry);
  }

  // ---- message lifecycle (postgres-lifecycle.ts) ----

  async applyChange(request: ChangeRequest): Promise<ChangeResult> {
    return this.write(['chat', request.chatId, 0, ''], async (tx) => {
      const result = await applyChangePg(tx, request);
      if (result.entry && !result.duplicate && this.webhooks.recording.has('message.updated'))
        await recordMessagePg(tx, 'message.updated', request.targetId, request.createdAt);
      return result;
    });
  }

  async reactions(messageIds: string[]): Promise<Map<string, ReactionSummary[]>> {
    return reactionsPg(this.pool, messageIds);
  }

  async setChatSettings(userId: string, chatId: string, patch: ChatSettingsPatch, maxPinned: number) {
    return this.write(['user', userId, 0, ''], (tx) => setChatSettingsPg(tx, userId, chatId, patch, maxPinned));
  }

  async mutedMembers(chatId: string, userIds: string[], at: number): Promise<string[]> {
    return mutedMembersPg(this.pool, chatId, userIds, at);
  }

  async latestBySender(chatId: string, afterSeq: number, uptoSeq: number, exceptUser: string): Promise<StoredMessage[]> {
    return this.messages(
      `SELECT * FROM (
         SELECT DISTINCT ON (sender_id) ${MESSAGE_COLS} FROM messages
         WHERE chat_id = $1 AND seq > $2 AND seq <= $3 AND sender_id <> $4 AND kind = 'message' ORDER BY sender_id, seq DESC) latest
       ORDER BY seq ASC`,
      [chatId, afterSeq, uptoSeq, exceptUser],
    );
  }

  async deviceCursor(deviceId: string, chatId: string): Promise<number> {
    const { rows } = await this.pool.query<{ delivered_seq: number }>(
      'SELECT delivered_seq FROM device_cursors WHERE device_id = $1 AND chat_id = $2',
      [deviceId, chatId],
    );
    return rows[0]?.delivered_seq ?? 0;
  }

  async pendingChats(deviceId: string, userId: string): Promise<PendingChat[]> {
    const { rows } = await this.pool.query<{ chat_id: string; after_seq: number; last_seq: number }>(
      `SELECT chat_id, after_seq, last_seq FROM (
         SELECT c.id AS chat_id, GREATEST(cm.joined_seq, COALESCE(dc.delivered_seq, 0)) AS after_seq, c.last_seq, c.last_at
         FROM chat_members cm
         JOIN chats c ON c.id = cm.chat_id
         LEFT JOIN device_cursors dc ON dc.device_id = $1 AND dc.chat_id = cm.chat_id
         WHERE cm.user_id = $2) owed
       WHERE last_seq > after_seq ORDER BY last_at ASC, chat_id`,
      [deviceId, userId],
    );
    return rows.map((r) => ({ chatId: r.chat_id, afterSeq: r.after_seq, lastSeq: r.last_seq }));
  }

  private async messages(text: string, values: unknown[]): Promise<StoredMessage[]> {
    return (await this.pool.query<StoredMessage>(text, values)).rows.map(toMessage);
  }

  // ---- cursors and receipts ----

  async advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance> {
    return (await this.cursors.add({ deviceId, userId, chatId, seq, at, read: false })).delivered;
  }

  async advanceRead(deviceId: string, userId: string, chatId: string, seq: number, at: number) {
    // What was read was delivered: the delivered cursor moves with it.
    return this.cursors.add({ deviceId, userId, chatId, seq, at, read: true });
  }

  private async cursorBatch(batch: CursorMove[], attempt = 1): Promise<Outcome<CursorMoved>[]> {
    try {
      const rows = await this.cursorStatement(batch);
      return settleCursorMoves(batch, rows).map((value) => ({ ok: true, value }));
    } catch (error) {
      if (attempt < WRITE_ATTEMPTS && isRetryable(error)) return this.cursorBatch(batch, attempt + 1);
      // A connection failure fails the batch (a lost cursor move only means a redelivery);
      // an SQL error is looked for by running each move alone.
      if (batch.length === 1 || (error as { code?: string }).code === undefined) return batch.map(() => ({ ok: false, error }));
      const outcomes: Outcome<CursorMoved>[] = [];
      for (const move of batch) outcomes.push(...(await this.cursorBatch([move])));
      return outcomes;
    }
  }

  /** One statement: device cursors, member cursors and receipt marks; answers the member cursors as they were. */
  private async cursorStatement(batch: CursorMove[]): Promise<MemberCursorRow[]> {
    const devices = new Map<string, [string, string, number]>();
    const members = new Map<string, [string, string, number, number, number]>();
    for (const m of batch) {
      const dk = `${m.deviceId}\u0000${m.chatId}`;
      const d = devices.get(dk);
      if (!d) devices.set(dk, [m.deviceId, m.chatId, m.seq]);
      else d[2] = Math.max(d[2], m.seq);
      const mk = `${m.chatId}\u0000${m.userId}`;
      const e = members.get(mk) ?? [m.chatId, m.userId, 0, 0, 0];
      members.set(mk, [e[0], e[1], Math.max(e[2], m.seq), m.read ? Math.max(e[3], m.seq) : e[3], Math.max(e[4], m.at)]);
    }
    // Sorted, so every node takes the row locks in the same order.
    const d = [...devices.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map((e) => e[1]);
    const mm = [...members.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map((e) => e[1]);
    const { rows } = await this.cursorPool.query<MemberCursorRow>(CURSOR_SQL, [
      d.map((x) => x[0]),
      d.map((x) => x[1]),
      d.map((x) => x[2]),
      mm.map((x) => x[0]),
      mm.map((x) => x[1]),
      mm.map((x) => x[2]),
      mm.map((x) => x[3]),
      mm.map((x) => x[4]),
    ]);
    return rows;
  }

  async receipts(message: StoredMessage): Promise<ReceiptRow[]> {
    const firstMark = (kind: number) =>
      `(SELECT r.at FROM receipt_marks r WHERE r.chat_id = cm.chat_id AND r.user_id = cm.user_id AND r.kind = ${kind} AND r.seq >= $2
        ORDER BY r.seq ASC LIMIT 1)`;
    const { rows } = await this.pool.query<{ user_id: string; delivered_at: number | null; read_at: number | null }>(
      `SELECT cm.user_id,
         CASE WHEN cm.delivered_seq >= $2 THEN ${firstMark(0)} END AS delivered_at,
         CASE WHEN cm.read_seq >= $2 THEN ${firstMark(1)} END AS read_at
       FROM chat_members cm
       WHERE cm.chat_id = $1 AND cm.user_id <> $3 AND cm.joined_seq < $2
       ORDER BY cm.joined_at, cm.user_id`,
      [message.chat_id, message.seq, message.sender_id],
    );
    return rows.map((r) => ({ userId: r.user_id, deliveredAt: r.delivered_at, readAt: r.read_at }));
  }

  // ---- search ----

  async search(userId: string, terms: string[], opts: { chatId?: string; limit: number }): Promise<StoredMessage[]> {
    if (terms.length === 0) return [];
    // The tsquery text is a parameter, never SQL; prefixQuery keeps it to quoted prefix terms.
    // Chat by chat (LATERAL): each of the caller's chats is searched through its own
    // (chat_id, seq) index range, newest first, at most `limit` rows each, so the cost
    // follows the caller's chats, never every user's matches (and the read pool's
    // statement_timeout bounds it).
    return this.messages(
      `SELECT hit.* FROM chat_members cm
       CROSS JOIN LATERAL (
         SELECT ${M_MESSAGE_COLS} FROM messages m
         WHERE m.chat_id = cm.chat_id AND m.seq > cm.joined_seq AND m.search @@ to_tsquery('simple', $2) AND m.kind = 'message'
         ORDER BY m.seq DESC LIMIT $4) hit
       WHERE cm.user_id = $1 AND ($3::text IS NULL OR cm.chat_id = $3)
       ORDER BY hit.created_at DESC, hit.chat_id, hit.seq DESC LIMIT $4`,
      [userId, prefixQuery(terms), opts.chatId ?? null, opts.limit],
    );
  }

  // ---- push targets ----

  async setPushTarget(deviceId: string, userId: string, target: PushTarget): Promise<void> {
    const { provider, data } = encodePushTarget(target);
    await this.write(['device', deviceId, 0, ''], (tx) =>
      tx.query(
        `INSERT INTO push_targets (device_id, user_id, provider, data) SELECT id, user_id, $3, $4 FROM devices
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
         ON CONFLICT (device_id) DO UPDATE SET provider = EXCLUDED.provider, data = EXCLUDED.data`,
        [deviceId, userId, provider, data],
      ),
    );
  }

  async deletePushTarget(deviceId: string, only?: PushTarget): Promise<void> {
    const enc = only ? encodePushTarget(only) : null;
    await this.write(['device', deviceId, 0, ''], (tx) =>
      enc
        ? tx.query('DELETE FROM push_targets WHERE device_id = $1 AND provider = $2 AND data = $3', [deviceId, enc.provider, enc.data])
        : tx.query('DELETE FROM push_targets WHERE device_id = $1', [deviceId]),
    );
  }

  async pushTargets(userIds: string[]): Promise<PushTargetRecord[]> {
    if (userIds.length === 0) return [];
    const { rows } = await this.pool.query<{ device_id: string; user_id: string; provider: string; data: string }>(
      `SELECT p.device_id, p.user_id, p.provider, p.data FROM push_targets p JOIN devices d ON d.id = p.device_id
       WHERE d.revoked_at IS NULL AND p.user_id = ANY($1::text[])`,
      [userIds],
    );
    const out: PushTargetRecord[] = [];
    for (const r of rows) {
      const target = decodePushTarget(r.provider, r.data);
      if (target) out.push({ deviceId: r.device_id, userId: r.user_id, target });
    }
    return out;
  }
}

/**
 * Pool settings with server options added to the connection's `options`, kept with
 * whatever a URL set there already (e.g. search_path). A string that is not a URL (a
 * socket path) gets them as the `options` setting.
 */
function withOptions(connectionString: string, options: string): { connectionString: string; options?: string } {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return { connectionString, options };
  }
  const current = url.searchParams.get('options');
  url.searchParams.set('options', current ? `${current} ${options}` : options);
  return { connectionString: url.toString() };
}

/**
 * Makes every parameterised query a named prepared statement on its connection, so
 * PostgreSQL parses and plans each of this store's (few, fixed) statements once per
 * connection instead of on every call: most of its CPU per message went there.
 * Queries without parameters (BEGIN, COMMIT, savepoints) are sent as they are.
 */
function preparePerConnection(client: pg.PoolClient): void {
  const names = new Map<string, string>();
  const plain = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values, callback] = args; // pool.query passes a callback as the third
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0 && (args.length === 2 || typeof callback === 'function')) {
      let name = names.get(text);
      if (!name) names.set(text, (name = `sb_${names.size}`));
      return args.length === 2 ? plain({ name, text, values }) : plain({ name, text, values }, callback);
    }
    return plain(...args);
  };
}
