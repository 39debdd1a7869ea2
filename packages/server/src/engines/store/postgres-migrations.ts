import { POSTGRES_WEBHOOK_MIGRATION } from './postgres-webhook-outbox.js';
import type { PoolClient } from 'pg';

/*
 * Versioned schema for the PostgreSQL store (cluster mode). Same model as
 * sqlite-migrations.ts; migration N is applied once, in its own transaction, and
 * recorded in schema_migrations. Never edit an applied migration: append a new one.
 */

/** Hash partitions of the messages table. Changing it needs a data migration. */
const MESSAGE_PARTITIONS = 16;

function messagePartitions(): string {
  return Array.from(
    { length: MESSAGE_PARTITIONS },
    (_, i) => `CREATE TABLE messages_p${i} PARTITION OF messages FOR VALUES WITH (MODULUS ${MESSAGE_PARTITIONS}, REMAINDER ${i});`,
  ).join('\n');
}

export const postgresMigrations: string[] = [
  /* 1: accounts, chats, messages, cursors, search */ `
  CREATE TABLE users (
    id text PRIMARY KEY,
    username text NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text NOT NULL,
    created_at bigint NOT NULL,
    last_seen bigint
  );
  CREATE TABLE devices (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    name text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    revoked_at bigint
  );
  CREATE INDEX devices_user ON devices(user_id);
  -- last_seq is the per-chat sequence: an append bumps it under the row lock, so seqs
  -- are gap-free whatever the number of nodes writing to the chat.
  CREATE TABLE chats (
    id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('direct', 'group')),
    name text,
    created_by text,
    created_at bigint NOT NULL,
    last_seq bigint NOT NULL DEFAULT 0,
    last_at bigint NOT NULL
  );
  CREATE TABLE chat_members (
    chat_id text NOT NULL REFERENCES chats(id),
    user_id text NOT NULL REFERENCES users(id),
    role text NOT NULL DEFAULT 'member',
    joined_seq bigint NOT NULL,
    joined_at bigint NOT NULL,
    delivered_seq bigint NOT NULL,
    read_seq bigint NOT NULL,
    PRIMARY KEY (chat_id, user_id)
  );
  CREATE INDEX chat_members_user ON chat_members(user_id, chat_id);

  -- A message is stored once per chat, whatever the number of members. Every access
  -- path is by chat (history, replay, dedupe), so chat_id is the partition key: a
  -- chat's messages live in one partition, and the same key would let Citus distribute
  -- the table (create_distributed_table('messages', 'chat_id')) without a model change.
  -- The search column is derived by PostgreSQL, so no code path can forget it.
  CREATE TABLE messages (
    chat_id text NOT NULL,
    seq bigint NOT NULL,
    id text NOT NULL,
    sender_id text NOT NULL,
    sender_device_id text NOT NULL,
    client_msg_id text NOT NULL,
    content text NOT NULL,
    created_at bigint NOT NULL,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
    PRIMARY KEY (chat_id, seq),
    UNIQUE (chat_id, sender_id, client_msg_id)
  ) PARTITION BY HASH (chat_id);
  ${messagePartitions()}
  CREATE INDEX messages_search ON messages USING gin (search);

  -- Message id → (chat_id, seq). A unique index on a partitioned table must contain the
  -- partition key, so messages cannot enforce a unique id by itself, and a plain index
  -- on messages(id) would be probed in all ${MESSAGE_PARTITIONS} partitions on every lookup. This
  -- small table gives both: global uniqueness of ids and a single-index lookup (receipts,
  -- acks by message id). Written in the same transaction as the message; under Citus it
  -- would be distributed by id.
  CREATE TABLE message_ids (
    id text PRIMARY KEY,
    chat_id text NOT NULL,
    seq bigint NOT NULL
  );

  -- Each device's delivered position per chat: replay starts above it.
  CREATE TABLE device_cursors (
    device_id text NOT NULL,
    chat_id text NOT NULL,
    delivered_seq bigint NOT NULL,
    PRIMARY KEY (device_id, chat_id)
  );
  -- When a member's delivered (kind 0) or read (kind 1) cursor reached seq: per-message
  -- receipt times are read off this log (the first mark at or above a message's seq).
  CREATE TABLE receipt_marks (
    chat_id text NOT NULL,
    user_id text NOT NULL,
    kind smallint NOT NULL,
    seq bigint NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (chat_id, user_id, kind, seq)
  );
  `,
  /* 2: membership versions: an append commits only against the membership it was checked with */ `
  ALTER TABLE chats ADD COLUMN members_version bigint NOT NULL DEFAULT 0;
  `,
  /* limits/sessions: when each device was last active (GET /v1/devices) */ `
  ALTER TABLE devices ADD COLUMN last_active_at bigint;
  `,
  /* push targets: one per device (see engines/store/push-targets.ts) */ `
  CREATE TABLE push_targets (
    device_id text PRIMARY KEY,
    user_id text NOT NULL,
    provider text NOT NULL,
    data text NOT NULL
  );
  CREATE INDEX push_targets_user ON push_targets (user_id);
  `,
  /* media: uploads, the messages that carried them, and a message's attachments (JSON text) */ `
  ALTER TABLE messages ADD COLUMN attachments text;
  CREATE TABLE media (
    id text PRIMARY KEY,
    owner_id text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    filename text,
    created_at bigint NOT NULL,
    parent_id text,
    attached boolean NOT NULL DEFAULT false,
    info text
  );
  CREATE INDEX media_owner ON media (owner_id, created_at);
  CREATE INDEX media_orphans ON media (created_at) WHERE NOT attached;
  CREATE INDEX media_parent ON media (parent_id) WHERE parent_id IS NOT NULL;
  CREATE TABLE media_refs (
    media_id text NOT NULL,
    message_id text NOT NULL,
    PRIMARY KEY (media_id, message_id)
  );
  `,
  /*
   * media pending (see media-index.ts attach, settle, takeOrphans): an original attached by
   * a send not yet known to be stored, since when. Media attached before this migration is
   * checked once too (a send refused or stored under another id left it attached for good),
   * pending from now: a node still on the previous version may be between an attach and
   * its append.
   */ `
  ALTER TABLE media ADD COLUMN pending_since bigint;
  UPDATE media SET pending_since = floor(extract(epoch FROM now()) * 1000)::bigint WHERE attached AND parent_id IS NULL;
  CREATE INDEX media_pending ON media (pending_since) WHERE pending_since IS NOT NULL;
  `,
  /* message lifecycle: changes in the chat's log, the message as it is now, reactions, chat settings (see SQLite migration 9) */ `
  ALTER TABLE messages ADD COLUMN kind text NOT NULL DEFAULT 'message';
  ALTER TABLE messages ADD COLUMN target_id text;
  ALTER TABLE messages ADD COLUMN emoji text;
  ALTER TABLE messages ADD COLUMN reply_to_id text;
  ALTER TABLE messages ADD COLUMN reply_sender_id text;
  ALTER TABLE messages ADD COLUMN reply_preview text;
  ALTER TABLE messages ADD COLUMN mentions text;
  ALTER TABLE messages ADD COLUMN forwarded boolean NOT NULL DEFAULT false;
  ALTER TABLE messages ADD COLUMN edited_at bigint;
  ALTER TABLE messages ADD COLUMN deleted boolean NOT NULL DEFAULT false;
  CREATE INDEX messages_target ON messages (chat_id, target_id) WHERE target_id IS NOT NULL;
  CREATE INDEX messages_reply_to ON messages (chat_id, reply_to_id) WHERE reply_to_id IS NOT NULL;
  CREATE TABLE reactions (
    message_id text NOT NULL,
    user_id text NOT NULL,
    emoji text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (message_id, user_id)
  );
  ALTER TABLE chat_members ADD COLUMN muted_until bigint;
  ALTER TABLE chat_members ADD COLUMN archived boolean NOT NULL DEFAULT false;
  ALTER TABLE chat_members ADD COLUMN pinned boolean NOT NULL DEFAULT false;
  -- A delete for everyone finds the media its message carried.
  CREATE INDEX media_refs_message ON media_refs (message_id);
  `,
  /* operators: suspension, bots, deleted accounts, reports (see SQLite migration 11) */ `
  ALTER TABLE users ADD COLUMN suspended boolean NOT NULL DEFAULT false;
  ALTER TABLE users ADD COLUMN bot boolean NOT NULL DEFAULT false;
  ALTER TABLE users ADD COLUMN deleted_at bigint;
  CREATE INDEX messages_by_sender ON messages (sender_id, id) WHERE kind = 'message' AND NOT deleted;
  CREATE TABLE reports (
    id text PRIMARY KEY,
    reporter_id text NOT NULL,
    user_id text NOT NULL,
    message_id text,
    reason text NOT NULL,
    note text,
    created_at bigint NOT NULL
  );
  CREATE INDEX reports_order ON reports (created_at, id);
  `,
  /*
   * people: profile fields, contacts, blocks (see SQLite migration 11). Prefix search is a
   * range on usernames in byte order: an index under the "C" collation serves both the
   * range and the order, whatever the database's default collation.
   */ `
  ALTER TABLE users ADD COLUMN about text NOT NULL DEFAULT '';
  ALTER TABLE users ADD COLUMN avatar text;
  ALTER TABLE users ADD COLUMN avatar_media_id text;
  CREATE INDEX users_avatar ON users (avatar_media_id) WHERE avatar_media_id IS NOT NULL;
  CREATE INDEX users_username_c ON users ((username COLLATE "C"));
  CREATE TABLE contacts (
    user_id text NOT NULL,
    contact_id text NOT NULL,
    added_at bigint NOT NULL,
    PRIMARY KEY (user_id, contact_id)
  );
  CREATE TABLE blocks (
    user_id text NOT NULL,
    blocked_id text NOT NULL,
    blocked_at bigint NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
  );
  CREATE INDEX blocks_blocked ON blocks (blocked_id, user_id);
  `,
  /* external identities: users who sign in from the host app, by (iss, sub) (see SQLite migration 12) */ `
  CREATE TABLE external_identities (
    issuer text NOT NULL,
    subject text NOT NULL,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    PRIMARY KEY (issuer, subject)
  );
  CREATE INDEX external_identities_user ON external_identities (user_id);
  `,
  // webhooks: the webhook list and the outbox (postgres-webhook-outbox.ts)
  POSTGRES_WEBHOOK_MIGRATION,
  /*
   * 12: retention (RETENTION_DAYS; postgres-lifecycle.ts expireMessagesPg) finds the oldest
   * messages across the hash partitions by creation time; without an index every batch
   * would scan the whole table. (The embedded store walks its rowid, which is commit order.)
   */ `
  CREATE INDEX messages_created ON messages (created_at);
  `,
  /*
   * unread counts without counting (see SQLite migration 14): the chat's message count, the
   * count as of each log row, and per member the count at their read position, their own
   * messages above it and their latest own message's seq. Every node must run this version
   * (a node on an older one appends without keeping the counters).
   */ `
  ALTER TABLE chats ADD COLUMN msg_count bigint NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN msg_ord bigint NOT NULL DEFAULT 0;
  ALTER TABLE chat_members ADD COLUMN read_msg_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN own_after_read bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_own_seq bigint NOT NULL DEFAULT 0;
  UPDATE messages m SET msg_ord = o.n FROM (
    SELECT chat_id, seq, count(*) FILTER (WHERE kind = 'message') OVER (PARTITION BY chat_id ORDER BY seq) AS n FROM messages) o
  WHERE m.chat_id = o.chat_id AND m.seq = o.seq AND o.n <> 0;
  UPDATE chats c SET msg_count = n.n FROM (SELECT chat_id, count(*) AS n FROM messages WHERE kind = 'message' GROUP BY chat_id) n
  WHERE c.id = n.chat_id;
  UPDATE chat_members cm SET
    read_msg_count = COALESCE((SELECT m.msg_ord FROM messages m WHERE m.chat_id = cm.chat_id
      AND m.seq <= GREATEST(cm.read_seq, cm.joined_seq) ORDER BY m.seq DESC LIMIT 1), 0),
    own_after_read = (SELECT count(*) FROM messages m WHERE m.chat_id = cm.chat_id AND m.sender_id = cm.user_id
      AND m.kind = 'message' AND m.seq > GREATEST(cm.read_seq, cm.joined_seq)),
    last_own_seq = COALESCE((SELECT max(m.seq) FROM messages m WHERE m.chat_id = cm.chat_id
      AND m.sender_id = cm.user_id AND m.kind = 'message'), 0);
  `,
  /* e2ee: the MLS Delivery Service (see the SQLite migration of the same name; docs/e2ee.md) */ `
  ALTER TABLE chats ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
  ALTER TABLE chats ADD COLUMN mls_epoch bigint NOT NULL DEFAULT 0;
  ALTER TABLE chats ADD COLUMN mls_group_info text;
  ALTER TABLE messages ADD COLUMN ciphertext text;
  ALTER TABLE messages ADD COLUMN epoch bigint;
  CREATE TABLE mls_key_packages (
    id bigserial PRIMARY KEY,
    device_id text NOT NULL,
    user_id text NOT NULL,
    data text NOT NULL,
    last_resort boolean NOT NULL DEFAULT false,
    created_at bigint NOT NULL
  );
  CREATE INDEX mls_key_packages_device ON mls_key_packages (device_id, last_resort, id);
  CREATE TABLE mls_welcomes (
    id text PRIMARY KEY,
    chat_id text NOT NULL,
    epoch bigint NOT NULL,
    data text NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE TABLE mls_welcome_devices (
    device_id text NOT NULL,
    welcome_id text NOT NULL,
    PRIMARY KEY (device_id, welcome_id)
  );
  CREATE INDEX mls_welcome_devices_welcome ON mls_welcome_devices (welcome_id);
  `,
  /*
   * Message ids through an index on messages, not a table of their own: message_ids cost
   * every append a second row (heap tuple, its primary key and their WAL) for a lookup
   * (receipts, changes, media, webhooks) that is rare next to appends. Its uniqueness
   * was never needed: ids are snowflakes, unique by construction. A lookup by id now
   * probes each of the ${MESSAGE_PARTITIONS} partitions' indexes. Every node must run this version (an
   * older one would write and read the dropped table, and fail).
   */ `
  CREATE INDEX messages_id ON messages (id);
  DROP TABLE message_ids;
  `,
  /*
   * Receipt marks gathered on the member row (postgres-batches.ts MARKS_PER_ROW): each
   * list holds (seq, at) pairs in order; a full list moves to receipt_marks as one row
   * (marks: the pairs; seq, at: its last pair). Rows from before keep one mark each (marks
   * NULL), and come before every list. Every node must run this version (an older one
   * would log single marks after lists of later ones).
   */ `
  ALTER TABLE receipt_marks ADD COLUMN marks bigint[];
  ALTER TABLE chat_members ADD COLUMN delivered_marks bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN read_marks bigint[] NOT NULL DEFAULT '{}';
  `,
  /*
   * One device's delivered cursor on its member row (postgres-batches.ts CURSOR_SQL): the
   * row is rewritten when the member's cursors move anyway, and most users ack from one
   * device, so their device_cursors row (its upsert: a tuple lock and a new row version)
   * is no longer written. A device's cursor is the greater of the two places.
   */ `
  ALTER TABLE chat_members ADD COLUMN cursor_device text, ADD COLUMN cursor_device_seq bigint NOT NULL DEFAULT 0;
  `,
  /*
   * A direct chat's unread counts without a write to the sender's member row on every send
   * (postgres-batches.ts APPEND_SQL): the chat counts the messages of one of its two members,
   * its creator (creator_count, beside msg_count), every log row of it carries that count as
   * of the row (creator_ord, beside msg_ord), and a member row the count at its read
   * position (read_creator_count, beside read_msg_count). A member's unread count is then the
   * other member's messages above their position, from columns GET /v1/chats reads anyway;
   * own_after_read and last_own_seq stay for groups. Groups' rows leave creator_ord NULL.
   * Every node must run this version (an older one would count a direct send the old way).
   */ `
  ALTER TABLE chats ADD COLUMN creator_count bigint NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN creator_ord bigint;
  ALTER TABLE chat_members ADD COLUMN read_creator_count bigint NOT NULL DEFAULT 0;
  UPDATE chats c SET created_by = (SELECT min(cm.user_id) FROM chat_members cm WHERE cm.chat_id = c.id)
  WHERE c.kind = 'direct' AND c.created_by IS NULL;
  UPDATE messages m SET creator_ord = o.n FROM (
    SELECT m.chat_id, m.seq, count(*) FILTER (WHERE m.kind = 'message' AND m.sender_id = c.created_by)
      OVER (PARTITION BY m.chat_id ORDER BY m.seq) AS n
    FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.kind = 'direct') o
  WHERE m.chat_id = o.chat_id AND m.seq = o.seq;
  UPDATE chats c SET creator_count = (SELECT count(*) FROM messages m WHERE m.chat_id = c.id AND m.kind = 'message' AND m.sender_id = c.created_by)
  WHERE c.kind = 'direct';
  UPDATE chat_members cm SET own_after_read = 0, last_own_seq = 0,
    read_creator_count = COALESCE((SELECT m.creator_ord FROM messages m WHERE m.chat_id = cm.chat_id
      AND m.seq <= GREATEST(cm.read_seq, cm.joined_seq) ORDER BY m.seq DESC LIMIT 1), 0)
  FROM chats c WHERE c.id = cm.chat_id AND c.kind = 'direct';
  `,
  /*
   * No GIN index on messages.search. Search walks each of the caller's chats through its
   * (chat_id, seq) key range, newest first, and tests the stored tsvector row by row
   * (PostgresStore.search): that bounds a search by the caller's chats, and the planner
   * never chose the GIN index for it (EXPLAIN on 200,000 messages in 200 chats, common
   * and absent terms alike). Yet every append paid for it: a pending-list insert (about
   * 240 WAL bytes of the cluster bench's 1.9 KB a message) and its later merges.
   */ `
  DROP INDEX messages_search;
  `,
  /*
   * No stored tsvector: search parses the rows it tests (PostgresStore.search), after a
   * LIKE on the lowercased text has passed over those that cannot match. The column held
   * about 1.4 bytes per byte of text in every message row and its WAL (126 of the cluster
   * bench's 1,660 B a message) and a to_tsvector on every append (a tenth of the append
   * statement's CPU), for a search that reads only the caller's chats. Dropping a column
   * rewrites nothing.
   */ `
  ALTER TABLE messages DROP COLUMN search;
  `,
  /*
   * Which chats a user has sent messages to (chat_senders), in place of an index of every
   * message by sender (messages_by_sender). Only erasing a deleted account looked messages
   * up by sender (PostgresAdmin.undeletedMessages), and it now finds them chat by chat
   * through the (chat_id, sender_id, client_msg_id) key. An append adds a pair the first
   * time a user sends to a chat (ON CONFLICT DO NOTHING writes nothing after that); the
   * index cost every append an entry (about 100 of the cluster bench's 1,560 WAL bytes a
   * message). Every node must run this version (an older one would add no pairs).
   */ `
  CREATE TABLE chat_senders (
    sender_id text NOT NULL,
    chat_id text NOT NULL,
    PRIMARY KEY (sender_id, chat_id)
  );
  INSERT INTO chat_senders (sender_id, chat_id) SELECT DISTINCT sender_id, chat_id FROM messages WHERE kind = 'message' AND NOT deleted;
  DROP INDEX messages_by_sender;
  `,
];

/**
 * Brings the schema in the connection's search_path up to date. Several nodes may start
 * at once: each migration runs in a transaction holding an advisory lock (keyed by the
 * schema, so separate schemas migrate independently), and re-reads the applied version
 * after taking it, so a migration another node just applied is skipped.
 */
export async function migratePostgres(client: PoolClient, migrations: string[] = postgresMigrations): Promise<void> {
  for (;;) {
    await client.query('BEGIN');
    try {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('switchboard-migrations:' || current_schema()))`);
      // Under the lock, so concurrent nodes cannot race on creating it.
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
      const applied = rows[0]?.version ?? 0;
      if (applied >= migrations.length) {
        await client.query('COMMIT');
        return;
      }
      await client.query(migrations[applied]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [applied + 1]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
}
