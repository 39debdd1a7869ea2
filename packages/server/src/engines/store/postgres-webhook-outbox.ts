import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { PoolClient } from 'pg';
import { M_MESSAGE_COLS, toMessage, webhookMessage } from './rows.js';
import type { StoredMessage } from './store.js';
import { groupData, toOutboxRow, toWebhook } from './sqlite-webhook-outbox.js';
import { eventsColumn, type OutboxRow, type WebhookEventType, type WebhookRecord, type WebhookStore } from './webhook-outbox.js';

type Tx = Pick<PoolClient, 'query'>;

/** The cluster store's webhook tables (postgres-migrations.ts). */
export const POSTGRES_WEBHOOK_MIGRATION = `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox (webhook_id, next_at);
`;

/** Records an event inside the caller's transaction: one outbox row per webhook that wants its type. */
export async function recordEventPg(tx: Tx, type: WebhookEventType, data: unknown, at: number, eventId: string = randomUUID()) {
  await tx.query(
    `INSERT INTO webhook_outbox (event_id, webhook_id, type, created_at, data, next_at)
     SELECT $1, id, $2, $3, $4, $3 FROM webhooks WHERE events LIKE $5`,
    [eventId, type, at, JSON.stringify(data), `%,${type},%`],
  );
}

/** message.updated: the message as it is now (read inside the transaction that changed it). */
export async function recordMessagePg(tx: Tx, type: 'message.created' | 'message.updated', messageId: string, at: number) {
  const { rows } = await tx.query(`SELECT ${M_MESSAGE_COLS} FROM messages m WHERE m.id = $1`, [messageId]);
  if (rows[0]) await recordEventPg(tx, type, webhookMessage(toMessage(rows[0])), at);
}

/** group.updated: the group as GET /v1/groups/{id} shows it, read inside the transaction that changed it. */
export async function recordGroupPg(tx: Tx, chatId: string, at: number) {
  const { rows } = await tx.query<{ name: string; created_at: number }>('SELECT name, created_at FROM chats WHERE id = $1', [chatId]);
  if (!rows[0]) return;
  const { rows: members } = await tx.query<{ user_id: string; role: string }>(
    'SELECT user_id, role FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, user_id',
    [chatId],
  );
  await recordEventPg(tx, 'group.updated', groupData(chatId, rows[0].name, Number(rows[0].created_at), members), at);
}

/** message.created for a batch of appends, in the append's transaction (PostgresStore.appendStatement). */
export async function recordCreatedPg(tx: Tx, messages: StoredMessage[]) {
  if (messages.length === 0) return;
  await tx.query(
    `INSERT INTO webhook_outbox (event_id, webhook_id, type, created_at, data, next_at)
     SELECT e.id, w.id, 'message.created', e.at, e.data, e.at
     FROM unnest($1::text[], $2::int8[], $3::text[]) AS e(id, at, data) CROSS JOIN webhooks w
     WHERE w.events LIKE '%,message.created,%'`,
    [messages.map((m) => `mc_${m.message_id}`), messages.map((m) => m.created_at), messages.map((m) => JSON.stringify(webhookMessage(m)))],
  );
}

export class PostgresWebhookStore implements WebhookStore {
  recording: ReadonlySet<WebhookEventType> = new Set();

  constructor(private readonly pool: pg.Pool) {}

  setRecording(types: ReadonlySet<WebhookEventType>): void {
    this.recording = types;
  }
  async create(h: WebhookRecord): Promise<void> {
    await this.pool.query('INSERT INTO webhooks (id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5)', [
      h.id,
      h.url,
      eventsColumn(h.events),
      h.secret,
      h.createdAt,
    ]);
  }
  async list(): Promise<WebhookRecord[]> {
    return (await this.pool.query('SELECT * FROM webhooks ORDER BY created_at, id')).rows.map(toWebhook);
  }
  async remove(id: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ gone: boolean }>(
      `WITH rows AS (DELETE FROM webhook_outbox WHERE webhook_id = $1), hook AS (DELETE FROM webhooks WHERE id = $1 RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM hook) AS gone`,
      [id],
    );
    return rows[0]?.gone === true;
  }
  async record(type: WebhookEventType, data: unknown, at: number): Promise<void> {
    if (this.recording.has(type)) await recordEventPg(this.pool, type, data, at);
  }
  /** SKIP LOCKED: nodes claiming at once take different rows; the lease keeps a claimed row from the others until it runs out. */
  async claim(webhookId: string, now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query(
      `UPDATE webhook_outbox SET lease_until = $3 WHERE id IN (
         SELECT id FROM webhook_outbox WHERE webhook_id = $1 AND next_at <= $2 AND lease_until <= $2 ORDER BY id LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [webhookId, now, leaseUntil, limit],
    );
    return rows.map(toOutboxRow).sort((a, b) => a.id - b.id);
  }
  async delivered(rowId: number): Promise<void> {
    await this.pool.query('DELETE FROM webhook_outbox WHERE id = $1', [rowId]);
  }
  async retry(rowId: number, attempts: number, nextAt: number): Promise<void> {
    await this.pool.query('UPDATE webhook_outbox SET attempts = $2, next_at = $3, lease_until = 0 WHERE id = $1', [
      rowId,
      attempts,
      nextAt,
    ]);
  }
  async pending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM webhook_outbox');
    return Number(rows[0]!.n);
  }
}
