/*
 * Webhooks and their outbox (PROTOCOL.md "Webhooks"). An event is written to the outbox
 * by the store in the same transaction as what caused it (one row per webhook that wants
 * it), so a crash after the commit loses none; the dispatcher (core/webhook-dispatcher.ts)
 * claims due rows, sends them, and deletes or reschedules them. Rows are claimed with a
 * lease: a node that dies mid-delivery leaves rows whose lease runs out, and another node
 * (or the restarted one) takes them.
 */

export const WEBHOOK_EVENTS = ['message.created', 'message.updated', 'user.created', 'group.updated', 'report.created'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookRecord {
  id: string;
  url: string;
  events: WebhookEventType[];
  secret: string;
  createdAt: number;
}

/** One event owed to one webhook. */
export interface OutboxRow {
  /** The row: what delivered/retry/drop name. */
  id: number;
  eventId: string;
  webhookId: string;
  type: WebhookEventType;
  createdAt: number;
  /** The event's data as JSON text. */
  data: string;
  attempts: number;
}

/** The message events: their rows' data is a Message (rewritten when that message is erased). */
export const MESSAGE_EVENT_TYPES = "('message.created', 'message.updated')";

/**
 * A LIKE pattern that every outbox row naming this id (as a message or as a reply's quoted
 * message) matches: a cheap text filter before the JSON is parsed. Ids are plain text;
 * LIKE's own characters are escaped (with backslash) all the same.
 */
export function idPattern(id: string): string {
  return `%${JSON.stringify(id).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The events column: ",a,b," so one LIKE '%,type,%' tells whether a webhook wants a type. */
export function eventsColumn(events: readonly string[]): string {
  return `,${events.join(',')},`;
}

export function eventsFromColumn(column: string): WebhookEventType[] {
  return column.split(',').filter((e) => e !== '') as WebhookEventType[];
}

export interface WebhookStore {
  /**
   * The event types some webhook wants, as this node last heard (the dispatcher keeps it
   * current). The store writes an event only when its type is here: without webhooks,
   * writes pay nothing. A webhook added elsewhere a moment ago may miss an event or two
   * until this node hears of it.
   */
  recording: ReadonlySet<WebhookEventType>;
  setRecording(types: ReadonlySet<WebhookEventType>): void;

  create(hook: WebhookRecord): Promise<void>;
  list(): Promise<WebhookRecord[]>;
  /** Removes the webhook and every event still owed to it; false when there was none. */
  remove(id: string): Promise<boolean>;

  /**
   * Records an event in a transaction of its own (for callers outside the store's own
   * writes). The store's writes (append, changes, users, groups) record theirs in their
   * own transaction.
   */
  record(type: WebhookEventType, data: unknown, at: number): Promise<void>;

  /** Takes up to `limit` of the webhook's due rows (next_at <= now, no live lease), leased until `leaseUntil`. */
  claim(webhookId: string, now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]>;
  delivered(rowId: number): Promise<void>;
  retry(rowId: number, attempts: number, nextAt: number): Promise<void>;
  /** Rows not yet delivered (all webhooks): for tests and metrics. */
  pending(): Promise<number>;
}
