import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type {
  AppendRequest,
  AppendResult,
  ChatKind,
  ChatListRow,
  ChatRecord,
  CursorAdvance,
  DeviceRecord,
  MemberRecord,
  PendingChat,
  ReceiptRow,
  Role,
  Store,
  StoredMessage,
  UserRecord,
} from './store.js';
import { migratePostgres } from './postgres-migrations.js';

/** Connections per node: one is held by the committing batch, the rest serve reads. */
const POOL_SIZE = 10;
/** Writes per batch transaction: bounds how long one transaction holds its row locks. */
const MAX_WRITES_PER_BATCH = 500;
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
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const MESSAGE_COLS = 'id AS message_id, chat_id, seq, sender_id, sender_device_id, client_msg_id, content, created_at';
const M_MESSAGE_COLS = MESSAGE_COLS.replace(/(^|, )(\w+)/g, '$1m.$2');

type Tx = Pick<PoolClient, 'query'>;

interface UserRow { id: string; username: string; display_name: string; password_hash: string; created_at: number; last_seen: number | null }
interface ChatRow { id: string; kind: ChatKind; name: string | null; created_by: string | null; created_at: number; last_seq: number }
interface MemberRow { user_id: string; role: Role; joined_seq: number; joined_at: number; delivered_seq: number; read_seq: number }
interface ChatListQueryRow extends ChatRow, MemberRow { unread: number; last_message: StoredMessage | null }

const toUser = (r: UserRow): UserRecord => ({
  id: r.id, username: r.username, displayName: r.display_name, passwordHash: r.password_hash, createdAt: r.created_at, lastSeen: r.last_seen,
});
const toChat = (r: ChatRow): ChatRecord => ({ id: r.id, kind: r.kind, name: r.name, createdBy: r.created_by, createdAt: r.created_at, lastSeq: r.last_seq });
const toMember = (r: MemberRow): MemberRecord => ({
  userId: r.user_id, role: r.role, joinedSeq: r.joined_seq, joinedAt: r.joined_at, deliveredSeq: r.delivered_seq, readSeq: r.read_seq,
});

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
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

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
 * Writes are queued and committed together (group commit per node): everything queued
 * while the previous batch committed goes into the next transaction, at most
 * MAX_WRITES_PER_BATCH of them, with one batch in flight at a time so a caller's writes
 * commit in the order it made them. The batch runs sorted by LockKey (deadlock
 * avoidance between nodes). It first runs without savepoints; if any write fails, the
 * transaction is rolled back and the batch re-run with each write in its own savepoint,
 * so one failing write fails alone. (Savepoints only on that path, because every
 * savepoint that writes gets a subtransaction id, and more than 64 of them in one open
 * transaction slow every other session's snapshots.) append() resolves after COMMIT,
 * which is durable with the default synchronous_commit; if COMMIT fails, every write of
 * the batch is rejected.
 *
 * Per-chat seq: an append runs `UPDATE chats SET last_seq = last_seq + 1 ... RETURNING`,
 * so appends to one chat from any node serialize on that row and seqs are gap-free (a
 * rolled-back append rolls its bump back too). Reads run at once on the pool.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private queue: QueuedWrite[] = [];
  private flushScheduled = false;
  private committing: Promise<void> | null = null;
  /** Number of transactions committed and writes in them, for metrics and benchmarks. */
  readonly commitStats = { commits: 0, writes: 0, isolatedRetries: 0 };

  constructor(connectionString: string) {
    this.pool = new pg.Pool({ connectionString, max: POOL_SIZE, types: pgTypes });
    this.pool.on('connect', preparePerConnection);
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  /** Connects and brings the schema up to date. */
  static async open(connectionString: string): Promise<PostgresStore> {
    const store = new PostgresStore(connectionString);
    try {
      const client = await store.pool.connect();
      try {
        await migratePostgres(client);
      } finally {
        client.release();
      }
    } catch (err) {
      await store.pool.end();
      throw err;
    }
    return store;
  }

  async close(): Promise<void> {
    while (this.committing || this.queue.length > 0) {
      if (this.committing) await this.committing;
      else this.startBatch();
    }
    await this.pool.end();
  }

  // ---- group commit ----

  /** Queues a write for the next batch transaction. */
  private write<T>(key: LockKey, run: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ key, run, resolve: resolve as (v: unknown) => void, reject });
      this.scheduleFlush();
    });
  }

  /** Flushes at the end of this event-loop turn, so writes arriving together share a batch. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.committing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (!this.committing && this.queue.length > 0) this.startBatch();
    });
  }

  private startBatch(): void {
    const batch = this.queue.splice(0, MAX_WRITES_PER_BATCH);
    this.committing = this.commitBatch(batch).finally(() => {
      this.committing = null;
      if (this.queue.length > 0) this.scheduleFlush();
    });
  }

  /** Commits one batch and settles every write in it; never throws. */
  private async commitBatch(batch: QueuedWrite[]): Promise<void> {
    // A stable sort: writes with equal keys (one chat's appends) keep their queue order.
    const ordered = [...batch].sort((a, b) => compareKeys(a.key, b.key));
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    let broken: Error | undefined;
    try {
      let outcomes = await this.runTogether(client, ordered);
      if (!outcomes) {
        this.commitStats.isolatedRetries++;
        outcomes = await this.runIsolated(client, ordered);
      }
      this.commitStats.commits++;
      this.commitStats.writes += ordered.length;
      ordered.forEach((w, i) => {
        const o = outcomes[i]!;
        if (o.ok) w.resolve(o.value);
        else w.reject(o.error);
      });
    } catch (err) {
      // BEGIN, a savepoint command or COMMIT failed (or the connection did): nothing in
      // this batch is known to be durable. A resend is safe: appends are idempotent.
      broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      for (const w of batch) w.reject(err);
    } finally {
      client.release(broken);
    }
  }

  /** The fast path: the whole batch in one transaction, no savepoints. Null when any write failed (rolled back). */
  private async runTogether(client: PoolClient, ordered: QueuedWrite[]): Promise<Outcome[] | null> {
    await client.query('BEGIN');
    const outcomes: Outcome[] = [];
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
  private async runIsolated(client: PoolClient, ordered: QueuedWrite[]): Promise<Outcome[]> {
    await client.query('BEGIN');
    const outcomes: Outcome[] = [];
    for (const w of ordered) outcomes.push(await this.runInSavepoint(client, w));
    await client.query('COMMIT');
    return outcomes;
  }

  private async runInSavepoint(client: PoolClient, w: QueuedWrite): Promise<Outcome> {
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
      return rowCount === 0 ? ('username_taken' as const) : { ...user, lastSeen: null };
    });
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async getUserByUsername(username: string): Promise<UserRecord | null> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async missingUsers(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM users WHERE id = ANY($1::text[])', [ids]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }

  async setLastSeen(userId: string, at: number): Promise<void> {
    await this.write(['user', userId, 0, ''], (tx) =>
      tx.query('UPDATE users SET last_seen = GREATEST(COALESCE(last_seen, 0), $1) WHERE id = $2', [at, userId]),
    );
  }

  async createDevice(d: DeviceRecord & { tokenHash: string }): Promise<void> {
    await this.write(['device', d.id, 0, ''], async (tx) => {
      await tx.query('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
        d.id, d.userId, d.name, d.tokenHash, d.createdAt,
      ]);
      // A new device is owed only what comes after it: start its cursors at each chat's end.
      await tx.query(
        `INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
         SELECT $1, c.id, c.last_seq FROM chat_members cm JOIN chats c ON c.id = cm.chat_id WHERE cm.user_id = $2`,
        [d.id, d.userId],
      );
    });
  }

  async deviceByTokenHash(tokenHash: string): Promise<DeviceRecord | null> {
    const { rows } = await this.pool.query<{ id: string; user_id: string; name: string; created_at: number }>(
      'SELECT id, user_id, name, created_at FROM devices WHERE token_hash = $1 AND revoked_at IS NULL',
      [tokenHash],
    );
    const r = rows[0];
    return r ? { id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at } : null;
  }

  async revokeDevice(deviceId: string, at: number): Promise<void> {
    await this.write(['device', deviceId, 0, ''], (tx) =>
      tx.query('UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, deviceId]),
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
    const { rows } = await this.pool.query<MemberRow>('SELECT * FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id', [chatId]);
    return rows.map(toMember);
  }

  async listChats(userId: string): Promise<ChatListRow[]> {
    const { rows } = await this.pool.query<ChatListQueryRow>(
      `SELECT c.*, cm.user_id, cm.role, cm.joined_seq, cm.joined_at, cm.delivered_seq, cm.read_seq,
         (SELECT row_to_json(lm) FROM (
            SELECT ${MESSAGE_COLS} FROM messages m
            WHERE m.chat_id = c.id AND c.last_seq > cm.joined_seq ORDER BY m.seq DESC LIMIT 1) lm) AS last_message,
         (SELECT count(*) FROM messages m
            WHERE m.chat_id = c.id AND m.seq > GREATEST(cm.read_seq, cm.joined_seq) AND m.sender_id <> cm.user_id) AS unread
       FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
       WHERE cm.user_id = $1 ORDER BY c.last_at DESC, c.id`,
      [userId],
    );
    // row_to_json renders bigint columns as JSON numbers, so last_message arrives typed.
    return rows.map((r) => ({ chat: toChat(r), member: toMember(r), lastMessage: r.last_message, unreadCount: r.unread }));
  }

  async shareAChat(a: string, b: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM chat_members x JOIN chat_members y ON x.chat_id = y.chat_id WHERE x.user_id = $1 AND y.user_id = $2 LIMIT 1',
      [a, b],
    );
    return (rowCount ?? 0) > 0;
  }

  async createGroup(g: { chatId: string; name: string; createdBy: string; createdAt: number; members: { userId: string; role: Role }[] }) {
    await this.write(['chat', g.chatId, 0, ''], (tx) =>
      tx.query(
        `WITH chat AS (
           INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES ($1, 'group', $2, $3, $4, 0, $4) RETURNING id)
         INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
         SELECT chat.id, m.user_id, m.role, 0, $4, 0, 0 FROM chat, unnest($5::text[], $6::text[]) AS m(user_id, role)
         ON CONFLICT (chat_id, user_id) DO NOTHING`,
        [g.chatId, g.name, g.createdBy, g.createdAt, g.members.map((m) => m.userId), g.members.map((m) => m.role)],
      ),
    );
  }

  async addMembers(chatId: string, userIds: string[], at: number): Promise<string[]> {
    const unique = [...new Set(userIds)];
    return this.write(['chat', chatId, 0, ''], async (tx) => {
      // Locked, so no append commits between reading last_seq and joining at it.
      const chat = await tx.query<{ last_seq: number }>('SELECT last_seq FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
      const lastSeq = chat.rows[0]?.last_seq;
      if (lastSeq === undefined) throw new Error(`chat ${chatId} does not exist`);
      // A member added now is owed only what is sent after joining.
      const { rows } = await tx.query<{ user_id: string }>(
        `INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
         SELECT $1, u, 'member', $2, $3, $2, $2 FROM unnest($4::text[]) AS u
         ON CONFLICT (chat_id, user_id) DO NOTHING RETURNING user_id`,
        [chatId, lastSeq, at, unique],
      );
      const added = new Set(rows.map((r) => r.user_id));
      return unique.filter((id) => added.has(id));
    });
  }

  async removeMember(chatId: string, userId: string): Promise<boolean> {
    return this.write(['chat', chatId, 1, userId], async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, userId]);
      return (rowCount ?? 0) > 0;
    });
  }

  async setRole(chatId: string, userId: string, role: Role): Promise<void> {
    await this.write(['chat', chatId, 1, userId], (tx) =>
      tx.query('UPDATE chat_members SET role = $1 WHERE chat_id = $2 AND user_id = $3', [role, chatId, userId]),
    );
  }

  async renameGroup(chatId: string, name: string): Promise<void> {
    await this.write(['chat', chatId, 0, ''], (tx) => tx.query('UPDATE chats SET name = $1 WHERE id = $2', [name, chatId]));
  }

  // ---- messages ----

  async append(requests: AppendRequest[]): Promise<AppendResult[]> {
    return Promise.all(requests.map((req) => this.write(['chat', req.chatId, 0, ''], (tx) => this.appendOne(tx, req))));
  }

  private async appendOne(tx: Tx, req: AppendRequest): Promise<AppendResult> {
    if (req.createDirectWith) await this.createDirect(tx, req, req.createDirectWith);
    const seq = await this.nextSeq(tx, req);
    if (seq === null) {
      const existing = await this.findExisting(tx, req);
      if (existing) return { message: existing, duplicate: true };
      throw new Error(`chat ${req.chatId} does not exist`);
    }
    await tx.query(
      `WITH m AS (
         INSERT INTO messages (chat_id, seq, id, sender_id, sender_device_id, client_msg_id, content, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, chat_id, seq)
       INSERT INTO message_ids (id, chat_id, seq) SELECT id, chat_id, seq FROM m`,
      [req.chatId, seq, req.messageId, req.senderId, req.senderDeviceId, req.clientMsgId, req.content, req.createdAt],
    );
    return {
      duplicate: false,
      message: {
        message_id: req.messageId,
        chat_id: req.chatId,
        seq,
        sender_id: req.senderId,
        sender_device_id: req.senderDeviceId,
        client_msg_id: req.clientMsgId,
        content: req.content,
        created_at: req.createdAt,
      },
    };
  }

  /**
   * The first append to a direct chat creates it. Two nodes may do so at once: the loser's
   * INSERT waits for the winner's commit and then does nothing, members included.
   */
  private async createDirect(tx: Tx, req: AppendRequest, memberIds: string[]): Promise<void> {
    await tx.query(
      `WITH chat AS (
         INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at) VALUES ($1, 'direct', NULL, $2, $3, 0, $3)
         ON CONFLICT (id) DO NOTHING RETURNING id)
       INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
       SELECT chat.id, u, 'member', 0, $3, 0, 0 FROM chat, unnest($4::text[]) AS u
       ON CONFLICT (chat_id, user_id) DO NOTHING`,
      [req.chatId, req.senderId, req.createdAt, [...new Set(memberIds)]],
    );
  }

  /**
   * Takes the chat's next seq under its row lock, unless the message is already stored
   * (then null, as for a missing chat). A duplicate committed by another node while this
   * waited for the lock is caught by the unique index on insert and retried.
   * last_at never moves back, whatever the clock skew between nodes.
   */
  private async nextSeq(tx: Tx, req: AppendRequest): Promise<number | null> {
    const { rows } = await tx.query<{ last_seq: number }>(
      `UPDATE chats SET last_seq = last_seq + 1, last_at = GREATEST(last_at, $2)
       WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM messages WHERE chat_id = $1 AND sender_id = $3 AND client_msg_id = $4)
       RETURNING last_seq`,
      [req.chatId, req.createdAt, req.senderId, req.clientMsgId],
    );
    return rows[0]?.last_seq ?? null;
  }

  private async findExisting(tx: Tx, req: AppendRequest): Promise<StoredMessage | null> {
    const { rows } = await tx.query<StoredMessage>(
      `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND sender_id = $2 AND client_msg_id = $3`,
      [req.chatId, req.senderId, req.clientMsgId],
    );
    return rows[0] ?? null;
  }

  async getMessage(messageId: string): Promise<StoredMessage | null> {
    return (await this.getMessages([messageId]))[0] ?? null;
  }

  async getMessages(messageIds: string[]): Promise<StoredMessage[]> {
    const ids = [...new Set(messageIds)];
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<StoredMessage>(
      `SELECT ${M_MESSAGE_COLS} FROM message_ids i JOIN messages m ON m.chat_id = i.chat_id AND m.seq = i.seq WHERE i.id = ANY($1::text[])`,
      [ids],
    );
    const byId = new Map(rows.map((m) => [m.message_id, m]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async history(chatId: string, opts: { after?: number; before?: number; limit: number; minSeq: number }): Promise<StoredMessage[]> {
    const upper = opts.before ?? Number.MAX_SAFE_INTEGER;
    if (opts.after !== undefined) {
      return this.messages(
        `SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq ASC LIMIT $4`,
        [chatId, Math.max(opts.after, opts.minSeq), upper, opts.limit],
      );
    }
    return this.messages(
      `SELECT * FROM (SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4) page
       ORDER BY seq ASC`,
      [chatId, opts.minSeq, upper, opts.limit],
    );
  }

  async range(chatId: string, afterSeq: number, uptoSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.messages(`SELECT ${MESSAGE_COLS} FROM messages WHERE chat_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq ASC LIMIT $4`, [
      chatId, afterSeq, uptoSeq, limit,
    ]);
  }

  async latestBySender(chatId: string, afterSeq: number, uptoSeq: number, exceptUser: string): Promise<StoredMessage[]> {
    return this.messages(
      `SELECT * FROM (
         SELECT DISTINCT ON (sender_id) ${MESSAGE_COLS} FROM messages
         WHERE chat_id = $1 AND seq > $2 AND seq <= $3 AND sender_id <> $4 ORDER BY sender_id, seq DESC) latest
       ORDER BY seq ASC`,
      [chatId, afterSeq, uptoSeq, exceptUser],
    );
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
    return (await this.pool.query<StoredMessage>(text, values)).rows;
  }

  // ---- cursors and receipts ----

  async advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance> {
    return this.write(['chat', chatId, 1, userId], async (tx) => {
      const member = await this.lockCursors(tx, deviceId, userId, chatId, seq);
      return this.moveCursor(tx, 'delivered', chatId, userId, member?.delivered_seq ?? null, seq, at);
    });
  }

  async advanceRead(deviceId: string, userId: string, chatId: string, seq: number, at: number) {
    return this.write(['chat', chatId, 1, userId], async (tx) => {
      const member = await this.lockCursors(tx, deviceId, userId, chatId, seq);
      // What was read was delivered: the delivered cursor moves with it.
      const delivered = await this.moveCursor(tx, 'delivered', chatId, userId, member?.delivered_seq ?? null, seq, at);
      const read = await this.moveCursor(tx, 'read', chatId, userId, member?.read_seq ?? null, seq, at);
      return { delivered, read };
    });
  }

  /** Moves the device's cursor forward and locks the member's row, returning its cursors (null: not a member). */
  private async lockCursors(tx: Tx, deviceId: string, userId: string, chatId: string, seq: number) {
    const { rows } = await tx.query<{ delivered_seq: number; read_seq: number }>(
      `WITH device AS (
         INSERT INTO device_cursors (device_id, chat_id, delivered_seq) VALUES ($1, $2, $3)
         ON CONFLICT (device_id, chat_id) DO UPDATE SET delivered_seq = GREATEST(device_cursors.delivered_seq, excluded.delivered_seq))
       SELECT delivered_seq, read_seq FROM chat_members WHERE chat_id = $2 AND user_id = $4 FOR UPDATE`,
      [deviceId, chatId, seq, userId],
    );
    return rows[0] ?? null;
  }

  /** Moves a member cursor (already locked) forward to seq and logs when it got there. */
  private async moveCursor(tx: Tx, kind: 'delivered' | 'read', chatId: string, userId: string, from: number | null, seq: number, at: number) {
    const current = from ?? 0;
    if (from === null || seq <= current) return { chatId, userId, from: current, to: current };
    const column = kind === 'delivered' ? 'delivered_seq' : 'read_seq';
    await tx.query(
      `WITH moved AS (UPDATE chat_members SET ${column} = $3 WHERE chat_id = $1 AND user_id = $2)
       INSERT INTO receipt_marks (chat_id, user_id, kind, seq, at) VALUES ($1, $2, $4, $3, $5) ON CONFLICT DO NOTHING`,
      [chatId, userId, seq, kind === 'delivered' ? 0 : 1, at],
    );
    return { chatId, userId, from: current, to: seq };
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
    return this.messages(
      `SELECT ${M_MESSAGE_COLS} FROM messages m
       JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = $1 AND m.seq > cm.joined_seq
       WHERE m.search @@ to_tsquery('simple', $2) AND ($3::text IS NULL OR m.chat_id = $3)
       ORDER BY m.created_at DESC, m.chat_id, m.seq DESC LIMIT $4`,
      [userId, prefixQuery(terms), opts.chatId ?? null, opts.limit],
    );
  }
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
