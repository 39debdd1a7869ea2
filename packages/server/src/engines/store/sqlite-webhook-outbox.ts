import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { MESSAGE_COLS, toMessage, webhookMessage } from './rows.js';
import type { SqliteWriter } from './sqlite-writer.js';
import {
  eventsColumn,
  eventsFromColumn,
  type OutboxRow,
  type WebhookEventType,
  type WebhookRecord,
  type WebhookStore,
} from './webhook-outbox.js';

type Row = Record<string, any>;

/** The embedded store's webhook tables (sqlite-migrations.ts: "webhooks"). */
export const SQLITE_WEBHOOK_MIGRATION = `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox (webhook_id, next_at);
`;

/**
 * The outbox's writes, run on the writer thread inside the transaction of the write that
 * caused the event (sqlite-writes.ts), or as operations of their own.
 */
export function sqliteWebhookWrites(db: Database.Database) {
  const s = {
    record: db.prepare(
      `INSERT INTO webhook_outbox (event_id, webhook_id, type, created_at, data, next_at)
       SELECT ?, id, ?, ?, ?, ? FROM webhooks WHERE events LIKE ?`,
    ),
    message: db.prepare(`SELECT ${MESSAGE_COLS} FROM messages WHERE id = ?`),
    chat: db.prepare('SELECT id, name, created_at FROM chats WHERE id = ?'),
    members: db.prepare('SELECT user_id, role FROM chat_members WHERE chat_id = ? ORDER BY joined_at, user_id'),
    insertHook: db.prepare('INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)'),
    deleteHook: db.prepare('DELETE FROM webhooks WHERE id = ?'),
    deleteRows: db.prepare('DELETE FROM webhook_outbox WHERE webhook_id = ?'),
    claim: db.prepare(
      `UPDATE webhook_outbox SET lease_until = @lease WHERE id IN (
         SELECT id FROM webhook_outbox WHERE webhook_id = @hook AND next_at <= @now AND lease_until <= @now ORDER BY id LIMIT @limit)
       RETURNING *`,
    ),
    delivered: db.prepare('DELETE FROM webhook_outbox WHERE id = ?'),
    resetLeases: db.prepare('UPDATE webhook_outbox SET lease_until = 0 WHERE lease_until > 0'),
    retry: db.prepare('UPDATE webhook_outbox SET attempts = ?, next_at = ?, lease_until = 0 WHERE id = ?'),
  };
  const record = (type: WebhookEventType, data: unknown, at: number, eventId: string = randomUUID()): void => {
    s.record.run(eventId, type, at, JSON.stringify(data), at, `%,${type},%`);
  };
  return {
    record,
    /** message.created / message.updated: the message as it is now. */
    recordMessage(type: 'message.created' | 'message.updated', messageId: string, at: number, eventId?: string): void {
      const row = s.message.get(messageId);
      if (row) record(type, webhookMessage(toMessage(row)), at, eventId);
    },
    /** group.updated: the group as GET /v1/groups/{id} shows it. */
    recordGroup(chatId: string, at: number): void {
      const chat = s.chat.get(chatId) as Row | undefined;
      if (!chat) return;
      const members = (s.members.all(chatId) as Row[]).map((m) => ({ user_id: m.user_id as string, role: m.role as string }));
      record('group.updated', groupData(chat.id as string, chat.name as string, chat.created_at as number, members), at);
    },
    ops: {
      recordWebhookEvent(type: WebhookEventType, data: unknown, at: number): void {
        record(type, data, at);
      },
      createWebhook(h: WebhookRecord): void {
        s.insertHook.run(h.id, h.url, eventsColumn(h.events), h.secret, h.createdAt);
      },
      removeWebhook(id: string): boolean {
        s.deleteRows.run(id);
        return s.deleteHook.run(id).changes > 0;
      },
      claimWebhookRows(hook: string, now: number, lease: number, limit: number): OutboxRow[] {
        return (s.claim.all({ hook, now, lease, limit }) as Row[]).map(toOutboxRow);
      },
      resetWebhookLeases(): void {
        s.resetLeases.run();
      },
      webhookDelivered(rowId: number): void {
        s.delivered.run(rowId);
      },
      webhookRetry(rowId: number, attempts: number, nextAt: number): void {
        s.retry.run(attempts, nextAt, rowId);
      },
    },
  };
}

export function groupData(chatId: string, name: string, createdAt: number, members: { user_id: string; role: string }[]) {
  return { group_id: chatId.slice(2), chat_id: chatId, name, members, created_at: createdAt };
}

export function userData(u: { id: string; username: string; displayName: string; createdAt: number }) {
  return { user_id: u.id, username: u.username, display_name: u.displayName, created_at: u.createdAt };
}

export function toOutboxRow(r: Row): OutboxRow {
  return {
    id: Number(r.id),
    eventId: r.event_id as string,
    webhookId: r.webhook_id as string,
    type: r.type as WebhookEventType,
    createdAt: Number(r.created_at),
    data: r.data as string,
    attempts: Number(r.attempts),
  };
}

export function toWebhook(r: Row): WebhookRecord {
  return {
    id: r.id as string,
    url: r.url as string,
    events: eventsFromColumn(r.events as string),
    secret: r.secret as string,
    createdAt: Number(r.created_at),
  };
}

/** The embedded store's side on the event loop: reads on the reading connection, writes through the writer thread. */
export class SqliteWebhookStore implements WebhookStore {
  recording: ReadonlySet<WebhookEventType> = new Set();
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
  ) {
    this.s = {
      list: db.prepare('SELECT * FROM webhooks ORDER BY created_at, id'),
      due: db.prepare('SELECT 1 FROM webhook_outbox WHERE webhook_id = ? AND next_at <= ? AND lease_until <= ? LIMIT 1'),
      pending: db.prepare('SELECT COUNT(*) AS n FROM webhook_outbox'),
    };
    // One process owns the file: leases left by a process that died are nobody's now.
    // The first write queued, so it runs before any claim.
    void this.writer.write('resetWebhookLeases').catch(() => undefined);
  }

  setRecording(types: ReadonlySet<WebhookEventType>): void {
    this.recording = types;
  }
  async create(hook: WebhookRecord): Promise<void> {
    await this.writer.write('createWebhook', hook);
  }
  async list(): Promise<WebhookRecord[]> {
    return (this.s.list.all() as Row[]).map(toWebhook);
  }
  remove(id: string): Promise<boolean> {
    return this.writer.write('removeWebhook', id);
  }
  async record(type: WebhookEventType, data: unknown, at: number): Promise<void> {
    if (this.recording.has(type)) await this.writer.write('recordWebhookEvent', type, data, at);
  }
  async claim(webhookId: string, now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]> {
    // A read first: the claim is a write (and a commit), not worth making when nothing is due.
    if (!this.s.due.get(webhookId, now, now)) return [];
    return this.writer.write('claimWebhookRows', webhookId, now, leaseUntil, limit);
  }
  async delivered(rowId: number): Promise<void> {
    await this.writer.write('webhookDelivered', rowId);
  }
  async retry(rowId: number, attempts: number, nextAt: number): Promise<void> {
    await this.writer.write('webhookRetry', rowId, attempts, nextAt);
  }
  async pending(): Promise<number> {
    return (this.s.pending.get() as Row).n as number;
  }
}
