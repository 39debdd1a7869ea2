import type pg from 'pg';
import type { AppendRequest, AppendResult, StoredMessage } from './store.js';
import { storedMessage } from './store.js';
import { M_MESSAGE_COLS, toMessage } from './rows.js';
import { recordCreatedPg, type PostgresWebhookStore } from './postgres-webhook-outbox.js';
import { AGAIN, WriteBatcher, type Again, type Outcome } from './write-batcher.js';
import { APPEND_SQL, erasePreviewsOfDeleted, appendParams, createDirectChats, directRefusals, type AppendRow } from './postgres-batches.js';
import { isRetryable, MAX_ITEMS_PER_STATEMENT, WRITE_ATTEMPTS, type CommitStats, type Tx } from './postgres-group-commit.js';

/*
 * The cluster store's appends (moved out of postgres-store.ts): every send queued on a node
 * while its previous batch committed goes into one statement (postgres-batches.ts), on a
 * pool of its own; append() resolves after the commit, which is durable (synchronous_commit
 * on). Batches start at most every APPEND_INTERVAL_MS, two at a time over disjoint chats. A batch statement that fails on a
 * race is tried once more; any other failure runs each send alone, so one bad send fails
 * only itself.
 */

/** Least time between two append batches (ms): under load, sends gather this long and share one statement and one commit. */
const APPEND_INTERVAL_MS = 4;
/** Characters of content per append statement. */
const MAX_CONTENT_PER_STATEMENT = 4_000_000;
/** Rounds of re-checking sends whose chat's membership changed under them, before giving up. */
const STALE_ROUNDS = 3;
/**
 * What one append statement answers per send: stored, a duplicate, checked against an old
 * membership, or not tried because another transaction held its chat (skipLocked).
 */
type RawAppend = AppendResult | { stale: true } | { skipped: true };

export class PgAppends {
  private readonly appends = new WriteBatcher<AppendRequest, AppendResult>((batch) => this.appendBatch(batch), {
    maxItems: MAX_ITEMS_PER_STATEMENT,
    // 1,000 maximum-size sends would be 100 M characters in one statement.
    maxWeight: MAX_CONTENT_PER_STATEMENT,
    weight: (req) => req.content.length,
    minIntervalMs: APPEND_INTERVAL_MS,
    // A batch's chats wait for its commit (their row locks, their seq order); others need not:
    // a second batch of other chats runs meanwhile. A chat's sends stay in one batch at a time.
    maxInFlight: 2,
    key: (req) => req.chatId,
  });

  /** Sends put back once because their chat was held (appendChecked); the next time they wait. */
  private readonly carried = new WeakSet<AppendRequest>();

  constructor(
    private readonly appendPool: pg.Pool,
    /** For reading memberships. */
    private readonly pool: pg.Pool,
    private readonly webhooks: PostgresWebhookStore,
    private readonly commitStats: CommitStats,
  ) {}

  append(requests: AppendRequest[]): Promise<AppendResult[]> {
    return Promise.all(requests.map((req) => this.appends.add(req)));
  }

  drain(): Promise<void> {
    return this.appends.drain();
  }

  /**
   * Runs one batch of appends: one statement and one commit (two of each when it creates
   * direct chats). Sends whose chat changed membership since their check are checked again
   * against the new members and appended again before this run ends, so they keep their
   * place before every later send of this node. Sends whose chat another transaction held
   * answer AGAIN the first time (appendChecked): back at the front of the queue, still
   * before that chat's later sends.
   */
  private async appendBatch(batch: AppendRequest[]): Promise<(Outcome<AppendResult> | Again)[]> {
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
      if ('again' in r) return r;
      return copy[n] && r.ok && r.value.message ? { ok: true, value: { message: r.value.message, duplicate: true } } : r;
    });
  }

  /** Appends, settling every stale membership check: re-checked against the chat's current members, then appended again. */
  private async appendChecked(requests: AppendRequest[]): Promise<(Outcome<AppendResult> | Again)[]> {
    const outcomes: (Outcome<RawAppend> | Again)[] = await this.appendUnique(requests, true);
    // Sends whose chat another transaction held (another node's batch, most often): the
    // first time, back to the queue for the next batch, so this batch's acks do not wait
    // for that commit; the second time, once more in this run, waiting for those locks
    // only (this batch's other chats are committed and released), so none waits for ever.
    const skipped = outcomes.flatMap((o, i) => ('ok' in o && o.ok && 'skipped' in o.value ? [i] : []));
    if (skipped.length > 0) {
      this.commitStats.skippedLocks += skipped.length;
      const again = skipped.filter((i) => this.carried.has(requests[i]!));
      for (const i of skipped) {
        if (this.carried.has(requests[i]!)) continue;
        this.carried.add(requests[i]!);
        outcomes[i] = AGAIN;
      }
      const retried = await this.appendUnique(
        // Their chats exist (the statement saw them).
        again.map((i) => ({ ...requests[i]!, createDirectWith: undefined })),
        false,
      );
      again.forEach((i, k) => (outcomes[i] = retried[k]!));
    }
    for (let round = 1; ; round++) {
      const stale = outcomes.flatMap((o, i) => ('ok' in o && o.ok && 'stale' in o.value ? [i] : []));
      if (stale.length === 0) return outcomes as (Outcome<AppendResult> | Again)[];
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
        false,
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

  private async appendUnique(requests: AppendRequest[], skipLocked: boolean, attempt = 1): Promise<Outcome<RawAppend>[]> {
    if (requests.length === 0) return [];
    try {
      // First without the duplicate probe: a repeated send fails the statement (unique
      // violation, retryable) and the next attempt probes.
      return await this.appendStatement(requests, attempt > 1, skipLocked);
    } catch (error) {
      // The probe-less first attempt does not count against the tries a race gets.
      if (attempt <= WRITE_ATTEMPTS && isRetryable(error)) return this.appendUnique(requests, skipLocked, attempt + 1);
      // Not an SQL error (the connection failed): every send of the batch fails; they are
      // idempotent, so the clients' resends are safe. Running them one by one would only
      // wait out the same failure once per send.
      if (requests.length === 1 || (error as { code?: string }).code === undefined) return requests.map(() => ({ ok: false, error }));
      // Something in the batch is refused: run each alone, so only that one fails.
      this.commitStats.isolatedRetries++;
      const outcomes: Outcome<RawAppend>[] = [];
      // Waiting for locks: skipped one by one, an early send of a chat could be put back
      // while a later one of the same chat is stored, out of the device's order.
      for (const req of requests) outcomes.push(...(await this.appendUnique([req], false)));
      return outcomes;
    }
  }

  private async appendStatement(requests: AppendRequest[], probe: boolean, skipLocked: boolean): Promise<Outcome<RawAppend>[]> {
    const client = await this.appendPool.connect();
    let broken: Error | undefined;
    const variant = APPEND_SQL[probe ? 'probe' : 'fast'];
    const sql = skipLocked ? variant.skipLocked : variant.wait;
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
        // A first message the chat's rule refuses (a block, a deleted account) must not
        // create the chat: checked here too, for these first messages only.
        const refused = await directRefusals(client, creating);
        const allowed = creating.filter((_, i) => !refused[i]);
        if (allowed.length > 0) {
          await createDirectChats(client, allowed);
          this.commitStats.commits++;
        }
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
        // Refused: answered below unless a repeat of a stored send (then that duplicate).
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
      // Skipped (its chat was held): run again by the caller, which also finds a duplicate then.
      requests.forEach((_, i) => {
        if (!results[i] && byOrd.get(i + 1)?.skipped) results[i] = { skipped: true };
      });
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
          const refused = byOrd.get(i + 1)?.refused;
          if (found) results[i] = { message: found, duplicate: true };
          else if (refused) results[i] = { refused };
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
}
