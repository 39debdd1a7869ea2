import type { PoolClient } from 'pg';
import { attachmentsColumn, mentionsColumn } from './rows.js';
import type { AppendRequest, CursorAdvance, DirectRefusal } from './store.js';

/*
 * The set-based statements behind PostgresStore's hot writes: a batch of appends or of
 * cursor moves is one statement over parallel arrays (UNNEST), prepared once per
 * connection, whatever the batch size. Kept apart from the store so the SQL and the
 * arithmetic around it can be read (and tested) on their own.
 */

type Tx = Pick<PoolClient, 'query'>;

/**
 * A batch of appends in one statement. $1..$16 are parallel arrays, one element per send
 * in queue order (ord). Direct sends the chat's rule refuses (refused, DIRECT_REFUSAL) and
 * sends already stored are skipped (fresh); the chats of the rest
 * are locked in id order (locked: FOR UPDATE returns the row as the lock holder left it);
 * a chat whose membership version differs from what every one of its sends was checked
 * against is not bumped, so those sends get no seq (stale). Each bumped chat hands out
 * last_seq+1.. in queue order, and counts the messages: the chat's msg_count, each row's
 * msg_ord, and in a direct chat its creator's count and each row's creator_ord (migration
 * 18: no member row is written), in a group each sender's own messages above their read
 * position (their member rows locked in key order, as the cursor statement locks them). Answers every ord with its seq (null: not stored) and the
 * chat's version under the lock (null: not locked). A duplicate committed by another node
 * after this statement's snapshot breaks the unique index: the caller tries again.
 * The duplicate probe is a LATERAL index lookup per send: as an anti-join, a generic plan
 * made while the table was small may scan every message of the chat.
 *
 * `probe` false leaves the probe out (APPEND_SQL.fast): a repeated send then breaks the
 * unique index and the caller runs the batch again with the probe. Repeats are rare
 * (resends after a reconnect) and the probe is about a fifth of the statement's cost
 * (16 partitions' index scans set up per statement, one index lookup per send).
 *
 * `skipLocked` true skips the chats another transaction holds (another node's batch, a
 * membership change) instead of waiting for them: their sends get no seq and answer
 * `skipped`, and the caller runs them again at once with `skipLocked` false. Waiting
 * in the first statement made convoys across nodes: a batch holding the locks it had
 * taken while it waited for one chat, and the other node's batches waiting for those.
 */
function appendSql(probe: boolean, skipLocked: boolean): string {
  const fresh = probe
    ? `SELECT r.* FROM req r
  LEFT JOIN LATERAL (
    SELECT true AS stored FROM messages m
    WHERE m.chat_id = r.chat_id AND m.sender_id = r.sender_id AND m.client_msg_id = r.client_msg_id LIMIT 1) d ON true
  WHERE d.stored IS NULL AND r.refused IS NULL`
    : 'SELECT r.* FROM req r WHERE r.refused IS NULL';
  return `
WITH sent AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[],
      $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bool[], $15::text[], $16::text[])
    WITH ORDINALITY AS r(chat_id, id, sender_id, sender_device_id, client_msg_id, content, created_at, members_version, attachments,
      reply_to_id, reply_sender_id, reply_preview, mentions, forwarded, ciphertext, other, ord)
), rule AS (
  -- Once per distinct direct send (chat, sender, other user, encrypted or not), not per
  -- send: a burst of one sender's messages ran the same three lookups for each (the rule's
  -- subplans: 7.3 % of the statement's CPU under perf with bursts of 8, 5.1 % after; 2026-12-07).
  SELECT r.chat_id, r.sender_id, r.other, r.ciphertext IS NOT NULL AS enc, ${DIRECT_REFUSAL} AS refused
  FROM (SELECT DISTINCT s.chat_id, s.sender_id, s.other, CASE WHEN s.ciphertext IS NOT NULL THEN '' END AS ciphertext
        FROM sent s WHERE s.other IS NOT NULL) r
), req AS (
  SELECT s.*, k.refused FROM sent s
  LEFT JOIN rule k ON k.chat_id = s.chat_id AND k.sender_id = s.sender_id AND k.other = s.other AND k.enc = (s.ciphertext IS NOT NULL)
), fresh AS MATERIALIZED (
  ${fresh}
), wanted AS (
  SELECT chat_id, count(*) AS n, max(created_at) AS at, count(members_version) AS checked,
    min(members_version) AS vmin, max(members_version) AS vmax, array_agg(sender_id) AS senders
  FROM fresh GROUP BY chat_id
), locked AS (
  SELECT c.id, c.last_seq, c.members_version, c.msg_count, c.creator_count, CASE WHEN c.kind = 'direct' THEN c.created_by END AS creator
  FROM chats c WHERE c.id IN (SELECT chat_id FROM wanted) ORDER BY c.id
  FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''}
), bumped AS (
  UPDATE chats c SET last_seq = l.last_seq + w.n, msg_count = l.msg_count + w.n, last_at = GREATEST(c.last_at, w.at),
    creator_count = l.creator_count + cardinality(array_positions(w.senders, l.creator))
  FROM locked l JOIN wanted w ON w.chat_id = l.id
  WHERE c.id = l.id AND (w.checked = 0 OR (w.checked = w.n AND w.vmin = l.members_version AND w.vmax = l.members_version))
  RETURNING c.id, l.last_seq AS base, l.msg_count AS base_count, l.creator_count AS base_creator, l.creator
), numbered AS (
  SELECT f.*, b.base + row_number() OVER w AS seq, b.base_count + row_number() OVER w AS msg_ord, b.creator,
    CASE WHEN b.creator IS NOT NULL THEN b.base_creator + count(*) FILTER (WHERE f.sender_id = b.creator) OVER w END AS creator_ord
  FROM fresh f JOIN bumped b ON b.id = f.chat_id WINDOW w AS (PARTITION BY f.chat_id ORDER BY f.ord)
), senders AS (
  -- Groups only: a direct chat counts its creator's messages instead (migration 18).
  SELECT chat_id, sender_id, count(*) AS n, max(seq) AS last FROM numbered WHERE creator IS NULL GROUP BY chat_id, sender_id
), own AS (
  -- Carries each sender's count along: joining two CTEs again below made a nested loop of
  -- CTE scans under the generic plan (estimated one row each), quadratic in the batch
  -- (20 of a 100 ms statement at 168 sends, auto_explain, 2026-12-07).
  SELECT cm.chat_id, cm.user_id, s.n, s.last FROM chat_members cm JOIN senders s ON s.chat_id = cm.chat_id AND s.sender_id = cm.user_id
  ORDER BY cm.chat_id, cm.user_id FOR UPDATE OF cm
), counted AS (
  UPDATE chat_members cm SET own_after_read = cm.own_after_read + o.n, last_own_seq = o.last
  FROM own o WHERE cm.chat_id = o.chat_id AND cm.user_id = o.user_id
), seen AS (
  -- The chats each sender has sent to (migration 21): a pair already there writes nothing.
  -- Its chat is locked above, so two batches never add the same pair at once.
  INSERT INTO chat_senders (sender_id, chat_id) SELECT DISTINCT sender_id, chat_id FROM numbered ON CONFLICT DO NOTHING
), stored AS (
  INSERT INTO messages (chat_id, seq, id, sender_id, sender_device_id, client_msg_id, content, created_at, attachments,
    reply_to_id, reply_sender_id, reply_preview, mentions, forwarded, msg_ord, ciphertext, creator_ord)
  SELECT n.chat_id, n.seq, n.id, n.sender_id, n.sender_device_id, n.client_msg_id, n.content, n.created_at, n.attachments,
    -- A quote of a message deleted since core read it gets its preview emptied before the
    -- commit (erasePreviewsOfDeleted): checking here too set up an index scan of each of the
    -- 16 partitions in every statement, replies or not.
    n.reply_to_id, n.reply_sender_id, n.reply_preview, n.mentions, n.forwarded, n.msg_ord, n.ciphertext, n.creator_ord
  FROM numbered n
)
SELECT r.ord, n.seq, l.members_version, r.refused,
  -- Skipped: wanted (not refused, not stored already) and its chat exists, yet not locked.
  ${skipLocked ? 'l.id IS NULL AND r.ord IN (SELECT f.ord FROM fresh f) AND EXISTS (SELECT 1 FROM chats k WHERE k.id = r.chat_id)' : 'false'} AS skipped
FROM req r LEFT JOIN numbered n ON n.ord = r.ord LEFT JOIN locked l ON l.id = r.chat_id`;
}

/**
 * store.ts directRefusal's rule for a send of req (alias r) whose `other` is the direct
 * chat's other user (null: not a direct send), in SQL: the append checks it in its own
 * statement, so a batch of direct sends costs one round trip, not a read first and then
 * the append (the people contract suite holds both stores to the same answers).
 */
const DIRECT_REFUSAL = `CASE
    WHEN r.other IS NULL THEN NULL
    WHEN r.other <> r.sender_id AND EXISTS (SELECT 1 FROM users u WHERE u.id = r.other AND u.deleted_at IS NOT NULL) THEN 'deleted'
    WHEN r.other <> r.sender_id AND EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = r.other AND b.blocked_id = r.sender_id) THEN 'blocked'
    WHEN COALESCE((SELECT c.encrypted FROM chats c WHERE c.id = r.chat_id), false) THEN
      CASE WHEN r.ciphertext IS NULL THEN 'encryption_required' END
    WHEN r.ciphertext IS NOT NULL THEN 'not_encrypted'
  END`;

/** The append statements by [probe][skipLocked] (see appendSql). */
export const APPEND_SQL = {
  probe: { skipLocked: appendSql(true, true), wait: appendSql(true, false) },
  fast: { skipLocked: appendSql(false, true), wait: appendSql(false, false) },
};

/**
 * For the replies a batch stored, run in the append's transaction after the append: empties
 * the previews of those whose quoted message is deleted, and answers their ids. The append
 * stores the preview core read; this statement has a fresh snapshot (READ COMMITTED, later
 * than any wait of the append for a lock) and runs before the commit, so no quote of a
 * message deleted for everyone is ever stored. And since core read the quoted text before either, the caller makes what it sends
 * (the live frame, the webhook event) say what was stored: every id answered has preview "".
 */
export async function erasePreviewsOfDeleted(tx: Tx, replies: { chatId: string; seq: number; replyToId: string }[]): Promise<Set<string>> {
  if (replies.length === 0) return new Set();
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE messages m SET reply_preview = ''
     FROM unnest($1::text[], $2::int8[], $3::text[]) AS r(chat_id, seq, reply_to_id)
     JOIN messages qm ON qm.id = r.reply_to_id AND qm.deleted
     WHERE m.chat_id = r.chat_id AND m.seq = r.seq
     RETURNING m.id`,
    [replies.map((r) => r.chatId), replies.map((r) => r.seq), replies.map((r) => r.replyToId)],
  );
  return new Set(rows.map((r) => r.id));
}

export function appendParams(requests: AppendRequest[]): unknown[] {
  return [
    requests.map((r) => r.chatId),
    requests.map((r) => r.messageId),
    requests.map((r) => r.senderId),
    requests.map((r) => r.senderDeviceId),
    requests.map((r) => r.clientMsgId),
    requests.map((r) => r.content),
    requests.map((r) => r.createdAt),
    requests.map((r) => r.membersVersion ?? null),
    requests.map((r) => attachmentsColumn(r.attachments)),
    requests.map((r) => r.replyTo?.message_id ?? null),
    requests.map((r) => r.replyTo?.sender_id ?? null),
    requests.map((r) => r.replyTo?.preview ?? null),
    requests.map((r) => mentionsColumn(r.mentions)),
    requests.map((r) => r.forwarded === true),
    requests.map((r) => r.ciphertext ?? null),
    requests.map((r) => r.directWith ?? null),
  ];
}

/**
 * DIRECT_REFUSAL for some direct sends, read on its own (by index; undefined: allowed):
 * for first messages, which must not create their chat when refused.
 */
export async function directRefusals(tx: Tx, requests: AppendRequest[]): Promise<(DirectRefusal | undefined)[]> {
  const { rows } = await tx.query<{ ord: string; refused: DirectRefusal | null }>(
    `SELECT r.ord, ${DIRECT_REFUSAL} AS refused
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(chat_id, sender_id, other, ciphertext, ord)`,
    [
      requests.map((r) => r.chatId),
      requests.map((r) => r.senderId),
      requests.map((r) => r.directWith ?? null),
      requests.map((r) => r.ciphertext ?? null),
    ],
  );
  const out: (DirectRefusal | undefined)[] = requests.map(() => undefined);
  for (const r of rows) out[Number(r.ord) - 1] = r.refused ?? undefined;
  return out;
}

/**
 * Creates the direct chats these first messages go to. Two nodes may do so at once: the
 * loser's INSERT waits for the winner's commit and then does nothing, members included.
 * In chat id order, so two batches creating the same chats cannot deadlock.
 */
export async function createDirectChats(tx: Tx, requests: AppendRequest[]): Promise<void> {
  const chats = new Map<string, AppendRequest>();
  for (const r of requests) if (!chats.has(r.chatId)) chats.set(r.chatId, r);
  const ordered = [...chats.values()].sort((a, b) => (a.chatId < b.chatId ? -1 : 1));
  const members = ordered.flatMap((r) => [...new Set(r.createDirectWith)].map((u) => [r.chatId, u, r.createdAt] as const));
  await tx.query(
    `WITH chat AS (
       INSERT INTO chats (id, kind, name, created_by, created_at, last_seq, last_at)
       SELECT d.chat_id, 'direct', NULL, d.created_by, d.at, 0, d.at FROM unnest($1::text[], $2::text[], $3::int8[]) AS d(chat_id, created_by, at)
       ON CONFLICT (id) DO NOTHING RETURNING id)
     INSERT INTO chat_members (chat_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq)
     SELECT m.chat_id, m.user_id, 'member', 0, m.at, 0, 0 FROM unnest($4::text[], $5::text[], $6::int8[]) AS m(chat_id, user_id, at)
     JOIN chat ON chat.id = m.chat_id
     ON CONFLICT (chat_id, user_id) DO NOTHING`,
    [
      ordered.map((r) => r.chatId),
      ordered.map((r) => r.senderId),
      ordered.map((r) => r.createdAt),
      members.map((m) => m[0]),
      members.map((m) => m[1]),
      members.map((m) => m[2]),
    ],
  );
}

/**
 * Receipt marks a member row gathers (delivered_marks, read_marks: seq, at pairs) before
 * they go to receipt_marks as one row: the member row is rewritten on every move anyway,
 * a receipt_marks row per move was a heap tuple and an index entry more (migration 16).
 */
export const MARKS_PER_ROW = 4;

/**
 * A batch of cursor moves in one statement: device cursors ($1..$3, one row per device and
 * chat: seq; $9 the position of its member's row in $4..$8), member cursors ($4..$8, one
 * row per chat and member: delivered, read, at; $10 the seqs of the member's devices in the
 * batch, an object by device id). Member rows that a move passes in the statement's snapshot are
 * locked in key order (old; the lock re-checks that against the latest version, and a
 * row the snapshot shows at or past the moves cannot be behind them now, cursors only
 * move forward: a lock, a WAL record, saved for every ack that moves nothing), and move
 * only forward. A mark is noted for each cursor that moved (one, the read mark, when both
 * moved to the same seq), on the member row, and a
 * member row's full list of marks moves to receipt_marks in one row (keyed by its last
 * seq) as the next mark replaces it. One device's cursor rides on the member row
 * (cursor_device, cursor_device_seq; migration 17): the row's device, or the first of the
 * batch when the row has none, whenever the member row moves anyway; other devices' moves,
 * and moves that do not move the member row (unless it holds them already), go to
 * device_cursors (a device's cursor is the greater of the two). A device_cursors row
 * already at or past its move is not rewritten. A read cursor that moves takes the
 * member's unread counters along (postgres-migrations.ts, "unread counts without
 * counting"): the chat's message count at the new position, one row away, and their own
 * messages still above it (counted only when some were above the old position and the new
 * one stops short of the latest; every one of them is committed, as the acked message is).
 * That count walks the chat's key range just read (the ORDER BY makes the primary key the
 * cheapest way, whatever the statistics when the generic plan was made), not the chat's or
 * the sender's messages by the (chat, sender, client_msg_id) index: that walk grew with the
 * chat's history, on every read. Answers the member cursors as they were before (a member row not moved: as the moves
 * left it, so none of them reports a step).
 *
 * No join pairs two of the batch's row sets: under the generic plan each is estimated at a
 * few rows, so such a join was a nested loop of scans, quadratic in the batch (about 25 ms
 * of a batch of 150 moves, auto_explain, 2026-12-07). A member row carries its moves and its
 * devices' seqs along (cur: as in the snapshot; old: locked), and a device finds what its
 * member's row says of it in one lookup built once (look: by position in $4..$8, the device
 * riding on the row, and the device whose move the snapshot's row holds already).
 */
export const CURSOR_SQL = `
WITH req AS (
  SELECT * FROM unnest($4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $10::jsonb[])
    WITH ORDINALITY AS r(chat_id, user_id, delivered, read, at, devices, i)
), cur AS (
  SELECT r.i, cm.chat_id, cm.user_id, GREATEST(cm.delivered_seq, r.delivered) AS delivered_seq, GREATEST(cm.read_seq, r.read) AS read_seq,
    CASE WHEN cm.cursor_device_seq >= (r.devices ->> cm.cursor_device)::int8 THEN cm.cursor_device END AS holds
  FROM req r JOIN chat_members cm ON cm.chat_id = r.chat_id AND cm.user_id = r.user_id
), old AS (
  SELECT cm.chat_id, cm.user_id, cm.delivered_seq, cm.read_seq, cm.joined_seq, cm.read_msg_count, cm.read_creator_count, cm.own_after_read, cm.last_own_seq,
    cm.delivered_marks, cm.read_marks, cm.cursor_device_seq, r.i, r.delivered AS to_delivered, r.read AS to_read, r.at, r.devices,
    -- The delivered cursor moves where the read cursor moves, at the same moment: the read
    -- mark says both, so no delivered mark is noted (receipts take the earlier of the two).
    r.delivered <= cm.delivered_seq OR (r.read > cm.read_seq AND GREATEST(cm.delivered_seq, r.delivered) = r.read) AS no_delivered_mark,
    COALESCE(cm.cursor_device, (SELECT min(k) FROM jsonb_object_keys(r.devices) k)) AS slot
  FROM chat_members cm JOIN req r ON r.chat_id = cm.chat_id AND r.user_id = cm.user_id
  WHERE r.delivered > cm.delivered_seq OR r.read > cm.read_seq ORDER BY cm.chat_id, cm.user_id FOR UPDATE OF cm
), look AS (
  SELECT COALESCE((SELECT jsonb_object_agg(o.i, o.slot) FROM old o), '{}') AS slot,
    COALESCE((SELECT jsonb_object_agg(c.i, c.holds) FROM cur c WHERE c.holds IS NOT NULL), '{}') AS holds
), devices AS (
  INSERT INTO device_cursors (device_id, chat_id, delivered_seq)
  SELECT d.device_id, d.chat_id, d.seq FROM unnest($1::text[], $2::text[], $3::int8[], $9::int8[]) AS d(device_id, chat_id, seq, member)
    CROSS JOIN look l
  WHERE l.slot ->> d.member::text IS DISTINCT FROM d.device_id
    -- Nor when its member row holds it already (a delivered ack after the read ack that moved it).
    AND l.holds ->> d.member::text IS DISTINCT FROM d.device_id
  ON CONFLICT (device_id, chat_id) DO UPDATE SET delivered_seq = excluded.delivered_seq
  WHERE excluded.delivered_seq > device_cursors.delivered_seq
), moved AS (
  UPDATE chat_members cm SET delivered_seq = GREATEST(o.delivered_seq, o.to_delivered), read_seq = GREATEST(o.read_seq, o.to_read),
    -- One lookup for both counts (a group's rows have no creator_ord); a member row whose
    -- read cursor stays keeps them, and the gate keeps the lookup from running at all.
    (read_msg_count, read_creator_count) = (SELECT COALESCE(p.msg_ord, o.read_msg_count), COALESCE(p.creator_ord, o.read_creator_count)
      FROM (SELECT o.to_read > o.read_seq AS moves) g LEFT JOIN LATERAL (
        SELECT m.msg_ord, COALESCE(m.creator_ord, 0) AS creator_ord FROM messages m
        WHERE g.moves AND m.chat_id = o.chat_id AND m.seq <= GREATEST(o.to_read, o.joined_seq) ORDER BY m.seq DESC LIMIT 1) p ON true),
    own_after_read = CASE WHEN o.to_read <= o.read_seq OR o.own_after_read = 0 THEN o.own_after_read
      WHEN GREATEST(o.to_read, o.joined_seq) >= o.last_own_seq THEN 0
      ELSE GREATEST(0, o.own_after_read - (SELECT count(*) FILTER (WHERE k.sender_id = o.user_id AND k.kind = 'message') FROM (
        SELECT m.sender_id, m.kind FROM messages m
        WHERE m.chat_id = o.chat_id AND m.seq > GREATEST(o.read_seq, o.joined_seq) AND m.seq <= GREATEST(o.to_read, o.joined_seq)
        ORDER BY m.seq) k)) END,
    delivered_marks = CASE WHEN o.no_delivered_mark THEN o.delivered_marks
      WHEN cardinality(o.delivered_marks) >= ${2 * MARKS_PER_ROW} THEN ARRAY[o.to_delivered, o.at]
      ELSE o.delivered_marks || ARRAY[o.to_delivered, o.at] END,
    read_marks = CASE WHEN o.to_read <= o.read_seq THEN o.read_marks
      WHEN cardinality(o.read_marks) >= ${2 * MARKS_PER_ROW} THEN ARRAY[o.to_read, o.at]
      ELSE o.read_marks || ARRAY[o.to_read, o.at] END,
    cursor_device = o.slot,
    cursor_device_seq = GREATEST(o.cursor_device_seq, (o.devices ->> o.slot)::int8)
  FROM old o WHERE cm.chat_id = o.chat_id AND cm.user_id = o.user_id
), marks AS (
  INSERT INTO receipt_marks (chat_id, user_id, kind, seq, at, marks)
  SELECT o.chat_id, o.user_id, 0, o.delivered_marks[cardinality(o.delivered_marks) - 1], o.delivered_marks[cardinality(o.delivered_marks)],
    o.delivered_marks
  FROM old o WHERE NOT o.no_delivered_mark AND cardinality(o.delivered_marks) >= ${2 * MARKS_PER_ROW}
  UNION ALL
  SELECT o.chat_id, o.user_id, 1, o.read_marks[cardinality(o.read_marks) - 1], o.read_marks[cardinality(o.read_marks)], o.read_marks
  FROM old o WHERE o.to_read > o.read_seq AND cardinality(o.read_marks) >= ${2 * MARKS_PER_ROW}
  ON CONFLICT DO NOTHING
)
SELECT chat_id, user_id, delivered_seq, read_seq FROM old
UNION ALL
SELECT c.chat_id, c.user_id, c.delivered_seq, c.read_seq FROM cur c CROSS JOIN look l WHERE NOT l.slot ? c.i::text`;

export interface MemberCursorRow {
  chat_id: string;
  user_id: string;
  delivered_seq: number;
  read_seq: number;
}

/**
 * What each move did, as if the batch's moves had run one after another in queue order:
 * the first to pass a member's old cursor reports the step, later ones report theirs
 * from there. A move by a non-member moves nothing (from = to = 0).
 */
export function settleCursorMoves(batch: CursorMove[], rows: MemberCursorRow[]): CursorMoved[] {
  const current = new Map(rows.map((r) => [`${r.chat_id}\u0000${r.user_id}`, { delivered: r.delivered_seq, read: r.read_seq }]));
  return batch.map((m) => {
    const cur = current.get(`${m.chatId}\u0000${m.userId}`);
    const step = (kind: 'delivered' | 'read', moves: boolean): CursorAdvance => {
      if (!cur) return { chatId: m.chatId, userId: m.userId, from: 0, to: 0 };
      const from = cur[kind];
      const to = moves ? Math.max(from, m.seq) : from;
      cur[kind] = to;
      return { chatId: m.chatId, userId: m.userId, from, to };
    };
    return { delivered: step('delivered', true), read: step('read', m.read) };
  });
}

/** One append as the batch statement numbers it (1-based position in the statement's arrays). */
export interface AppendRow {
  ord: number;
  seq: number | null;
  /** The chat's membership version under the lock; null when the chat was not locked (missing, or nothing fresh for it). */
  members_version: number | null;
  /** Why a direct send was refused (store.ts DirectRefusal); null: not refused. */
  refused: DirectRefusal | null;
  /** Not stored because another transaction held its chat's row (skipLocked only). */
  skipped: boolean;
}

/** One cursor move: delivered (and read, when `read`) up to seq for a device and its user. */
export interface CursorMove {
  deviceId: string;
  userId: string;
  chatId: string;
  seq: number;
  at: number;
  read: boolean;
}

export interface CursorMoved {
  delivered: CursorAdvance;
  read: CursorAdvance;
}
