import type pg from 'pg';
import type { CursorAdvance } from './store.js';
import { WriteBatcher, type Outcome } from './write-batcher.js';
import { CURSOR_SQL, settleCursorMoves, type CursorMove, type CursorMoved, type MemberCursorRow } from './postgres-batches.js';
import { isRetryable, MAX_ITEMS_PER_STATEMENT, WRITE_ATTEMPTS } from './postgres-group-commit.js';

/*
 * The cluster store's cursor moves (moved out of postgres-store.ts): delivered and read acks,
 * coalesced per device and per member, then one statement (postgres-batches.ts CURSOR_SQL),
 * on a pool whose sessions commit with synchronous_commit off: a cursor lost in a crash
 * only means a message is delivered again, which the at-least-once contract allows.
 * Batches start at most every CURSOR_INTERVAL_MS.
 */

/** Least time between two cursor batches (ms): acks coalesce per (device, chat) and per member within it. */
const CURSOR_INTERVAL_MS = 20;

export class PgCursors {
  private readonly cursors = new WriteBatcher<CursorMove, CursorMoved>((batch) => this.cursorBatch(batch), {
    maxItems: MAX_ITEMS_PER_STATEMENT,
    minIntervalMs: CURSOR_INTERVAL_MS,
  });

  constructor(private readonly cursorPool: pg.Pool) {}

  async advanceDelivered(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorAdvance> {
    return (await this.cursors.add({ deviceId, userId, chatId, seq, at, read: false })).delivered;
  }

  advanceRead(deviceId: string, userId: string, chatId: string, seq: number, at: number): Promise<CursorMoved> {
    // What was read was delivered: the delivered cursor moves with it.
    return this.cursors.add({ deviceId, userId, chatId, seq, at, read: true });
  }

  drain(): Promise<void> {
    return this.cursors.drain();
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
    const devices = new Map<string, [string, string, number, string]>();
    const members = new Map<string, [string, string, number, number, number]>();
    for (const m of batch) {
      const dk = `${m.deviceId}\u0000${m.chatId}`;
      const d = devices.get(dk);
      if (!d) devices.set(dk, [m.deviceId, m.chatId, m.seq, m.userId]);
      else d[2] = Math.max(d[2], m.seq);
      const mk = `${m.chatId}\u0000${m.userId}`;
      const e = members.get(mk) ?? [m.chatId, m.userId, 0, 0, 0];
      members.set(mk, [e[0], e[1], Math.max(e[2], m.seq), m.read ? Math.max(e[3], m.seq) : e[3], Math.max(e[4], m.at)]);
    }
    // Sorted, so every node takes the row locks in the same order.
    const d = [...devices.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map((e) => e[1]);
    const mm = [...members.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
    // Each device's member by position (1-based), and each member's devices with their seqs:
    // the statement then pairs no two of the batch's row sets (see CURSOR_SQL).
    const position = new Map(mm.map(([key], i) => [key, i + 1]));
    const seqs = new Map<string, [string, number][]>(mm.map(([key]) => [key, []]));
    for (const [deviceId, chatId, seq, userId] of d) seqs.get(`${chatId}\u0000${userId}`)!.push([deviceId, seq]);
    const { rows } = await this.cursorPool.query<MemberCursorRow>(CURSOR_SQL, [
      d.map((x) => x[0]),
      d.map((x) => x[1]),
      d.map((x) => x[2]),
      mm.map(([, x]) => x[0]),
      mm.map(([, x]) => x[1]),
      mm.map(([, x]) => x[2]),
      mm.map(([, x]) => x[3]),
      mm.map(([, x]) => x[4]),
      d.map((x) => position.get(`${x[1]}\u0000${x[3]}`)),
      // fromEntries, not an object literal: a device id such as __proto__ stays a key.
      mm.map(([key]) => JSON.stringify(Object.fromEntries(seqs.get(key)!))),
    ]);
    return rows;
  }
}
