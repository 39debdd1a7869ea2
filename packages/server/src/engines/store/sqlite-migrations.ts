import { SQLITE_WEBHOOK_MIGRATION } from './sqlite-webhook-outbox.js';

/*
 * Versioned schema for the embedded store. Each entry runs once, in order, inside a
 * transaction; PRAGMA user_version records how far a database has come.
 */
export const sqliteMigrations: string[] = [
  /* 1: accounts, chats, messages, cursors, search */ `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER
  );
  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE INDEX devices_user ON devices(user_id);
  CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    name TEXT,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_at INTEGER NOT NULL
  );
  CREATE TABLE chat_members (
    chat_id TEXT NOT NULL REFERENCES chats(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL DEFAULT 'member',
    joined_seq INTEGER NOT NULL,
    joined_at INTEGER NOT NULL,
    delivered_seq INTEGER NOT NULL,
    read_seq INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX chat_members_user ON chat_members(user_id, chat_id);
  -- A message is stored once per chat, whatever the number of members.
  CREATE TABLE messages (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    chat_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    sender_device_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (chat_id, seq),
    UNIQUE (chat_id, sender_id, client_msg_id)
  );
  -- Each device's delivered position per chat: replay starts above it.
  CREATE TABLE device_cursors (
    device_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    delivered_seq INTEGER NOT NULL,
    PRIMARY KEY (device_id, chat_id)
  ) WITHOUT ROWID;
  -- When a member's delivered (kind 0) or read (kind 1) cursor reached seq: per-message
  -- receipt times are read off this log (the first mark at or above a message's seq).
  CREATE TABLE receipt_marks (
    chat_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id, kind, seq)
  ) WITHOUT ROWID;
  CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');
  CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
  END;
  `,
  /* 2: membership versions (see the PostgreSQL migration of the same number) */ `
  ALTER TABLE chats ADD COLUMN members_version INTEGER NOT NULL DEFAULT 0;
  `,
  /* 3: search indexing off the acknowledgement path (SqliteStore.indexForSearch) */ `
  DROP TRIGGER messages_fts_insert;
  -- Messages up to last_rowid are in messages_fts; the trigger indexed everything so far.
  CREATE TABLE search_progress (id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL);
  INSERT INTO search_progress (id, last_rowid) VALUES (1, (SELECT COALESCE(MAX(rowid), 0) FROM messages));
  `,
  /* 4: limits/sessions: when each device was last active (GET /v1/devices) */ `
  ALTER TABLE devices ADD COLUMN last_active_at INTEGER;
  `,
  /* 5: push targets: one per device (see engines/store/push-targets.ts) */ `
  CREATE TABLE push_targets (
    device_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX push_targets_user ON push_targets (user_id);
  `,
  /* 6: media: uploads, the messages that carried them, and a message's attachments (JSON) */ `
  ALTER TABLE messages ADD COLUMN attachments TEXT;
  CREATE TABLE media (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    filename TEXT,
    created_at INTEGER NOT NULL,
    parent_id TEXT,
    attached INTEGER NOT NULL DEFAULT 0,
    info TEXT
  );
  CREATE INDEX media_owner ON media (owner_id, created_at);
  CREATE INDEX media_orphans ON media (created_at) WHERE attached = 0;
  CREATE INDEX media_parent ON media (parent_id) WHERE parent_id IS NOT NULL;
  CREATE TABLE media_refs (
    media_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (media_id, message_id)
  ) WITHOUT ROWID;
  `,
  /*
   * 7 (bounds, issue 9): search inside the caller's chats only. The index gets the chat as
   * a column (its id as one token: ':' becomes 'x'), so a query names the caller's chats
   * and FTS5 intersects them with the words in its own doclists, instead of finding every
   * user's matches and filtering them by membership afterwards; prefix indexes make the
   * (always prefix) terms cheap. Contentless: the text is read from messages by rowid.
   * Filled after commit like the index it replaces (migration 3, indexForSearch).
   */ `
  DROP TABLE messages_fts;
  CREATE VIRTUAL TABLE messages_fts USING fts5(content, chat, content='', prefix='2 3', tokenize='unicode61 remove_diacritics 2');
  INSERT INTO messages_fts(rowid, content, chat) SELECT rowid, content, replace(chat_id, ':', 'x') FROM messages;
  UPDATE search_progress SET last_rowid = (SELECT COALESCE(MAX(rowid), 0) FROM messages);
  `,
  /*
   * 8: media pending (see media-index.ts attach, settle, takeOrphans): an original attached
   * by a send not yet known to be stored, since when. Media attached before this migration
   * is checked once too (a send refused or stored under another id left it attached for
   * good); 0, as no send is under way while the embedded store migrates.
   */ `
  ALTER TABLE media ADD COLUMN pending_since INTEGER;
  UPDATE media SET pending_since = 0 WHERE attached = 1 AND parent_id IS NULL;
  CREATE INDEX media_pending ON media (pending_since) WHERE pending_since IS NOT NULL;
  `,
  /*
   * 9: message lifecycle (PROTOCOL.md "Message lifecycle"). The chat's log holds changes too:
   * a row of kind edit/delete/react takes the chat's next seq like a message (so idempotency,
   * order, replay and acknowledgements need no second mechanism) and names its target; the
   * target row itself holds the message as it is now (content, edited_at, deleted), so
   * history reads one row per message. Reactions: one row per (message, user), aggregated
   * per page. Replies keep the quoted message's id, sender and preview in columns, so a
   * delete can empty every preview quoting it. Chat settings are the member's own.
   */ `
  ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
  ALTER TABLE messages ADD COLUMN target_id TEXT;
  ALTER TABLE messages ADD COLUMN emoji TEXT;
  ALTER TABLE messages ADD COLUMN reply_to_id TEXT;
  ALTER TABLE messages ADD COLUMN reply_sender_id TEXT;
  ALTER TABLE messages ADD COLUMN reply_preview TEXT;
  ALTER TABLE messages ADD COLUMN mentions TEXT;
  ALTER TABLE messages ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN edited_at INTEGER;
  ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX messages_target ON messages (target_id) WHERE target_id IS NOT NULL;
  CREATE INDEX messages_reply_to ON messages (reply_to_id) WHERE reply_to_id IS NOT NULL;
  CREATE TABLE reactions (
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
  ) WITHOUT ROWID;
  ALTER TABLE chat_members ADD COLUMN muted_until INTEGER;
  ALTER TABLE chat_members ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE chat_members ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
  -- A delete for everyone finds the media its message carried.
  CREATE INDEX media_refs_message ON media_refs (message_id);
  `,
  /*
   * 10: operators (PROTOCOL.md "Operators", "People" reports). A suspended user's tokens and
   * logins are refused; a bot's token never idles out; a deleted account stays as a row
   * (deleted_at, its username freed) so the ids its erased messages carry stay valid.
   * messages_by_sender finds the messages a deleted user still has, in batches.
   */ `
  ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN deleted_at INTEGER;
  CREATE INDEX messages_by_sender ON messages (sender_id, id) WHERE kind = 'message' AND deleted = 0;
  CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    reporter_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT,
    reason TEXT NOT NULL,
    note TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX reports_order ON reports (created_at, id);
  `,
  /*
   * 11: people (PROTOCOL.md "People"): profile fields, contacts, blocks. The avatar is kept
   * as JSON ({media_id, thumbnail}) with its media id beside it, indexed for the media
   * access check ("some user's current avatar"). Blocks are indexed both ways: who I
   * blocked (the key) and who blocked me.
   */ `
  ALTER TABLE users ADD COLUMN about TEXT NOT NULL DEFAULT '';
  ALTER TABLE users ADD COLUMN avatar TEXT;
  ALTER TABLE users ADD COLUMN avatar_media_id TEXT;
  CREATE INDEX users_avatar ON users (avatar_media_id) WHERE avatar_media_id IS NOT NULL;
  CREATE TABLE contacts (
    user_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, contact_id)
  ) WITHOUT ROWID;
  CREATE TABLE blocks (
    user_id TEXT NOT NULL,
    blocked_id TEXT NOT NULL,
    blocked_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
  ) WITHOUT ROWID;
  CREATE INDEX blocks_blocked ON blocks (blocked_id, user_id);
  `,
  /*
   * 12: users who sign in from the host app (PROTOCOL.md "Signing in from your own app"),
   * known by the app's (iss, sub); unique, so one user per pair however many sign in at once.
   */ `
  CREATE TABLE external_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
  ) WITHOUT ROWID;
  CREATE INDEX external_identities_user ON external_identities (user_id);
  `,
  // webhooks: the webhook list and the outbox (sqlite-webhook-outbox.ts)
  SQLITE_WEBHOOK_MIGRATION,
  /*
   * 14: unread counts without counting (issue 20). A chat counts its messages (kind
   * 'message'; changes are never unread); every log row keeps the count as it was once the
   * row was appended (msg_ord), so the count at any seq is one row away. A member keeps the
   * count at their read position (max(read_seq, joined_seq)), their own messages above it
   * (own messages are never unread) and their latest own message's seq. Unread is then
   * msg_count - read_msg_count - own_after_read. Existing data is counted once here.
   */ `
  ALTER TABLE chats ADD COLUMN msg_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN msg_ord INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE chat_members ADD COLUMN read_msg_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE chat_members ADD COLUMN own_after_read INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE chat_members ADD COLUMN last_own_seq INTEGER NOT NULL DEFAULT 0;
  UPDATE messages SET msg_ord = o.n FROM (
    SELECT rowid AS r, SUM(kind = 'message') OVER (PARTITION BY chat_id ORDER BY seq) AS n FROM messages) AS o
  WHERE messages.rowid = o.r;
  UPDATE chats SET msg_count = (SELECT COUNT(*) FROM messages m WHERE m.chat_id = chats.id AND m.kind = 'message');
  UPDATE chat_members SET
    read_msg_count = COALESCE((SELECT m.msg_ord FROM messages m WHERE m.chat_id = chat_members.chat_id
      AND m.seq <= MAX(chat_members.read_seq, chat_members.joined_seq) ORDER BY m.seq DESC LIMIT 1), 0),
    own_after_read = (SELECT COUNT(*) FROM messages m WHERE m.chat_id = chat_members.chat_id AND m.sender_id = chat_members.user_id
      AND m.kind = 'message' AND m.seq > MAX(chat_members.read_seq, chat_members.joined_seq)),
    last_own_seq = COALESCE((SELECT MAX(m.seq) FROM messages m WHERE m.chat_id = chat_members.chat_id
      AND m.sender_id = chat_members.user_id AND m.kind = 'message'), 0);
  `,
  /*
   * e2ee (docs/e2ee.md): the server as the MLS Delivery Service, holding opaque bytes only.
   * A chat is encrypted for good once flagged; mls_epoch counts the commits accepted, which
   * take the chat's next seq as log rows of kind 'mls_commit' (ciphertext: the commit, epoch:
   * the epoch it was made in). An encrypted message is a row with content '' and its
   * ciphertext. Key packages: one-use ones are deleted when claimed, the last-resort one is
   * kept. A welcome is stored once, with a row per device it names (acknowledged: deleted).
   */ `
  ALTER TABLE chats ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE chats ADD COLUMN mls_epoch INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE chats ADD COLUMN mls_group_info TEXT;
  ALTER TABLE messages ADD COLUMN ciphertext TEXT;
  ALTER TABLE messages ADD COLUMN epoch INTEGER;
  CREATE TABLE mls_key_packages (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    data TEXT NOT NULL,
    last_resort INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX mls_key_packages_device ON mls_key_packages (device_id, last_resort, id);
  CREATE TABLE mls_welcomes (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE mls_welcome_devices (
    device_id TEXT NOT NULL,
    welcome_id TEXT NOT NULL,
    PRIMARY KEY (device_id, welcome_id)
  ) WITHOUT ROWID;
  CREATE INDEX mls_welcome_devices_welcome ON mls_welcome_devices (welcome_id);
  `,
  /*
   * 17 (retention, issue 24): the search index merges its segments in small steps that the
   * writes ask for (sqlite-writes.ts, mergeSearch), not by FTS5's automerge, which merged
   * whole levels inside whichever commit crossed a threshold: a send queued behind a
   * retention batch then waited tens of milliseconds for a merge it had not caused.
   */ `
  INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
  `,
  /*
   * 18 (retention, issue 24): 17 undone, FTS5's automerge back at its default. Measured in the
   * retention bench (2026-12-06, quiet machine): with 17 the send p99 beside retention was
   * higher (149-151 ms against 119-120) and fewer rows were erased, and merging in every
   * retention batch cost a fifth of the rows erased for no lower p99.
   */ `
  INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 4);
  `,
  /*
   * 19 (retention, issue 24): search entries of expired and deleted messages wait here, then leave the
   * index in the search indexing's own commits (sqlite-writes.ts indexForSearch). Each
   * FTS5 write flushed in a commit costs at least one unit of merge work (tens of
   * milliseconds on a large index); retention's small slices ride send commits, and their
   * index deletes made those sends wait for it. Search skips rowids still listed here.
   */ `
  CREATE TABLE search_erasures (
    rowid INTEGER PRIMARY KEY,
    content TEXT NOT NULL,
    chat TEXT NOT NULL
  );
  `,
  /*
   * 20 (retention, issue 24): the search index moves to a file of its own, written by a
   * thread of its own (sqlite-search-file.ts): FTS5's merges inside this file's commits made
   * the sends queued behind them wait. The first start after this rebuilds it from the
   * messages. What the indexer must take out again (an edit's old words, an erased or expired
   * message) is a row here, written by the writes that cause it (a row insert, no FTS work),
   * with the words the message had just before (the index is contentless: an entry leaves by
   * naming what was indexed); so is retention taking the newest rows (free: rowids above
   * msg_rowid are free again, SQLite hands them out anew). seq only grows (AUTOINCREMENT), so
   * the search file's changes_upto says which are applied, and those are dropped
   * (SqliteStore, dropSearchChanges).
   */ `
  DROP TABLE messages_fts;
  DROP TABLE search_progress;
  DROP TABLE search_erasures;
  CREATE TABLE search_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_rowid INTEGER NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    chat TEXT NOT NULL DEFAULT '',
    free INTEGER NOT NULL DEFAULT 0
  );
  `,
  /*
   * 21: a random id of this store, copied into the search file it indexes into
   * (sqlite-search-file.ts): a search file of another store is rebuilt, not used.
   */ `
  CREATE TABLE store_identity (id INTEGER PRIMARY KEY CHECK (id = 1), store_id TEXT NOT NULL);
  INSERT INTO store_identity (id, store_id) VALUES (1, lower(hex(randomblob(16))));
  `,
];
