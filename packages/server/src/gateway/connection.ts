import { CloseCode, type ServerFrame } from '@switchboard/protocol';
import { BACKLOG_PAGE } from '../core/backlog.js';
import type { BusEvent } from '../engines/bus/bus.js';

type MessageEvent = Extract<BusEvent, { kind: 'message' }>;
type FrameEvent = Extract<BusEvent, { kind: 'frame' }>;
import { entryFrame, type LogEntry } from '../engines/store/store.js';
import type { Metrics } from '../util/metrics.js';
import { TRANSPORT_OPEN, type FrameTransport } from './frame-transport.js';
import { frameSocket, sharedFrame } from './shared-frame.js';

/** Replay waits for the socket to drain below this (or half the socket's cap) before writing more. */
const REPLAY_HIGH_WATER = 1024 * 1024;
/**
 * Live messages held while a replay or gap fill runs: past either bound the rest are
 * dropped and read back from the store once the replay is done (the log is the queue),
 * so a socket that replays slowly cannot make this node hold a busy group's traffic.
 */
const MAX_HELD_EVENTS = 1000;
const MAX_HELD_BYTES = 4 * 1024 * 1024;
/**
 * Sends in flight per socket (read, not yet answered): past the high mark the socket is
 * not read any more until answers bring it down to the low one. A client pipelining
 * sends faster than they commit (or than a full fan-out queue admits them) waits in
 * TCP, not in this process's memory.
 */
const SENDS_IN_FLIGHT_HIGH = 256;
/** Live messages parked per chat while this device's own sends to it are in flight (past it: a gap fill). */
const MAX_PARKED_PER_CHAT = 256;
/** The longest a status frame waits on a ?batch=1 socket for another frame (ms), whatever its event asks. */
const MAX_RIDE_MS = 900;
/** Status frames waiting on one socket at most: more go at once. */
const MAX_RIDING = 16;
const SENDS_IN_FLIGHT_LOW = 128;
/** Chats in which this socket notes its own committed seqs before any message of the chat reached it (past it: not noted). */
const MAX_OWN_AHEAD_CHATS = 64;
/** A socket closed as too slow is cut this long after the close frame (ms): it is not reading it. */
const SLOW_CLOSE_GRACE_MS = 1000;

export interface ConnectionOptions {
  maxBufferBytes: number;
  /** A socket whose outbound buffer stays over the replay high-water mark this long (ms) is closed as too slow. */
  stalledTimeoutMs: number;
  metrics: Metrics;
  /**
   * Reads the chat's messages this member may see in (after, upto], at most `limit`,
   * ascending; `after` null: from this device's delivered cursor (a chat this socket has
   * not had a message of yet).
   */
  fetchRange: (conn: Connection, chatId: string, afterSeq: number | null, uptoSeq: number, limit: number) => Promise<LogEntry[]>;
  onError: (conn: Connection, err: unknown) => void;
}

/**
 * One device's socket. Keeps each chat's messages in seq order and free of duplicates
 * on this socket: live messages that arrive while the connect-time replay (or a gap
 * fill) runs are held and released after it, and anything at or below the last seq
 * sent for a chat is dropped.
 */
interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

/**
 * Connections whose socket was corked in this tick, uncorked together by one nextTick: a
 * fan-out to a thousand sockets schedules one callback, not a thousand.
 */
let corkedNow: Connection[] = [];

function uncorkAll(): void {
  const corked = corkedNow;
  corkedNow = [];
  for (const conn of corked) conn.uncork();
}

/** The TCP socket under a `ws` WebSocket (none under an HTTP stream: nothing to cork). */
function rawSocket(transport: FrameTransport): CorkableSocket | undefined {
  return (transport as unknown as { _socket?: CorkableSocket })._socket;
}

/** Where a socket's promise chains start: one settled promise for all of them (memory per idle socket). */
const SETTLED: Promise<void> = Promise.resolve();

export class Connection {
  lastActivity = Date.now();
  /** When the sweeper last pinged this socket (0: not since it was last heard from). */
  lastPing = 0;
  closed = false;
  /** Ordered sends: each send_message is admitted after the previous one was queued. */
  sendChain: Promise<void> = SETTLED;
  /** Settles once this socket's latest send is durable or refused (core/frames/change-message.ts waits for it). */
  lastCommit: Promise<unknown> = SETTLED;
  /** Sends through the fan-out queue not yet answered (core/frames/send-message.ts); null until the first. */
  queuedSends: Set<Promise<void>> | null = null;
  /** This socket's read cursor writes not yet stored: a pong waits for them (see ws-gateway.ts). */
  readsStored: Promise<void> = SETTLED;
  typingTokens = 0;
  typingRefillAt = 0;
  /** Opened with ?batch=1: the client may send JSON arrays of frames (PROTOCOL.md "Batching"). */
  batch = false;

  private readonly lastSeq = new Map<string, number>();
  /** Seqs of this device's own messages above lastSeq: never sent here, so the position skips them. */
  private ownAhead: Map<string, Set<number>> | null = null;
  private held: MessageEvent[] | null = [];
  private heldBytes = 0;
  /** Chats whose held messages were dropped (held past its bounds): the highest seq dropped, to read back from the store. */
  private dropped: Map<string, number> | null = null;
  /** Since when the outbound buffer has been over the high-water mark (ms), or null. */
  private stalledSince: number | null = null;
  private corked = false;
  /** ?batch=1: the frames written this tick, sent as one array when it ends (flushBatch). */
  private batched: string[] | null = null;
  /** ?batch=1: the first frame of this tick is a fan-out's (shared): alone, it goes as the shared prepared frame. */
  private batchedShared = false;
  /** ?batch=1: status frames waiting for the next frame to this socket, to go in its message (deliver). */
  private riding: string[] | null = null;
  private ridingTimer: NodeJS.Timeout | null = null;
  private readonly highWater: number;
  private sendsInFlight = 0;
  /** This device's sends in flight per chat: a gap below a live message may be one of them. */
  private ownInFlight: Map<string, number> | null = null;
  /** Live messages waiting for this device's own sends in their chat to be acknowledged. */
  private parked: Map<string, MessageEvent[]> | null = null;
  /** All parked messages and their frames' length: within the bounds of held ones (MAX_HELD_EVENTS, MAX_HELD_BYTES). */
  private parkedCount = 0;
  private parkedBytes = 0;
  private readingPaused = false;
  /** A catch-up asked for while a replay or gap fill held live messages: it runs when that one releases them. */
  private catchUpOwed: (() => Promise<void>) | null = null;

  constructor(
    /** A WebSocket, or an HTTP stream of GET /v1/events (frame-transport.ts). */
    readonly transport: FrameTransport,
    readonly userId: string,
    readonly deviceId: string,
    private readonly opts: ConnectionOptions,
  ) {
    // Replay must never come near the slow-consumer cap that live writes enforce.
    this.highWater = Math.min(REPLAY_HIGH_WATER, Math.floor(opts.maxBufferBytes / 2));
  }

  /** Writes a control frame (ack, error, status...). */
  sendFrame(frame: ServerFrame): void {
    this.write(JSON.stringify(frame));
  }

  /**
   * Writes already-encoded text; closes the socket if the client has fallen too far behind.
   * `shared`: the same text goes to many sockets (a fan-out): it is framed once for all
   * of them (shared-frame.ts); on a ?batch=1 socket, when it is the only frame of its tick.
   */
  write(text: string, shared = false): void {
    if (this.closed || this.transport.readyState !== TRANSPORT_OPEN) return;
    if (this.transport.bufferedAmount > this.opts.maxBufferBytes) {
      this.closeSlow();
      return;
    }
    this.cork();
    if (this.batch) {
      if (this.riding) this.releaseRiding();
      // This tick's frames go as one array (flushBatch): nothing may overtake it.
      if (this.batched) this.batched.push(text);
      else {
        this.batched = [text];
        this.batchedShared = shared;
      }
      return;
    }
    const socket = shared ? frameSocket(this.transport) : undefined;
    if (socket) socket.write(sharedFrame(text));
    else this.transport.send(text);
  }

  /** Holds a status frame for the next write (deliver); the first one held sets the deadline. */
  private ride(text: string, rideMs: number): void {
    if (this.riding) this.riding.push(text);
    else {
      this.riding = [text];
      this.ridingTimer = setTimeout(() => this.releaseRiding(), Math.min(rideMs, MAX_RIDE_MS));
      this.ridingTimer.unref();
    }
    if (this.riding.length >= MAX_RIDING) this.releaseRiding();
  }

  /** Writes the held status frames (a write is about to follow, or their time is up). */
  private releaseRiding(): void {
    const held = this.riding;
    if (!held) return;
    this.riding = null;
    if (this.ridingTimer) clearTimeout(this.ridingTimer);
    this.ridingTimer = null;
    for (const text of held) this.write(text);
  }

  /**
   * Frames written in one event-loop turn leave in one syscall: the underlying socket
   * is corked until the next tick (one writev instead of one per frame). On a socket
   * opened with ?batch=1 they also leave as one WebSocket message, a JSON array
   * (PROTOCOL.md "Batching"): one frame header, one send, one message event at the client.
   */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    rawSocket(this.transport)?.cork();
    if (corkedNow.push(this) === 1) process.nextTick(uncorkAll);
  }

  /** Lets what was written this tick go (see uncorkAll). */
  uncork(): void {
    this.corked = false;
    this.flushBatch();
    rawSocket(this.transport)?.uncork();
  }

  /** ?batch=1: this tick's frames as one message (a lone frame as itself). */
  private flushBatch(): void {
    const texts = this.batched;
    if (!texts) return;
    this.batched = null;
    if (this.transport.readyState !== TRANSPORT_OPEN) return;
    // A tick's lone fan-out frame (a large group's message, one per tick) is the prepared one every socket shares.
    const socket = texts.length === 1 && this.batchedShared ? frameSocket(this.transport) : undefined;
    if (socket) socket.write(sharedFrame(texts[0]!));
    else this.transport.send(texts.length === 1 ? texts[0]! : `[${texts.join(',')}]`);
  }

  /** A send_message frame was read: counts it in flight, and stops reading past the high mark. */
  sendStarted(chatId: string): void {
    this.ownInFlight ??= new Map();
    this.ownInFlight.set(chatId, (this.ownInFlight.get(chatId) ?? 0) + 1);
    this.sendsInFlight++;
    if (this.sendsInFlight >= SENDS_IN_FLIGHT_HIGH && !this.readingPaused) {
      this.readingPaused = true;
      this.transport.pause();
    }
  }

  /** A send was answered (ack or error): reading resumes once few enough are in flight. */
  sendSettled(chatId: string): void {
    this.sendsInFlight--;
    if (this.readingPaused && this.sendsInFlight <= SENDS_IN_FLIGHT_LOW) {
      this.readingPaused = false;
      this.transport.resume();
    }
    const left = (this.ownInFlight?.get(chatId) ?? 1) - 1;
    if (left > 0) {
      this.ownInFlight!.set(chatId, left);
      return;
    }
    this.ownInFlight?.delete(chatId);
    if (this.ownInFlight?.size === 0) this.ownInFlight = null;
    // Its own seqs are known now (noteOwnMessage ran at the commit): what still looks like a gap is one.
    const parked = this.parked?.get(chatId);
    if (!parked) return;
    this.parked!.delete(chatId);
    if (this.parked!.size === 0) this.parked = null;
    for (const e of parked) {
      this.parkedCount--;
      this.parkedBytes -= e.frame.length;
    }
    for (const e of parked.sort((x, y) => x.seq - y.seq)) this.deliver(e);
  }

  /** This device's own message was committed at `seq` in `chatId` (its ack_sent is going out). */
  noteOwnMessage(chatId: string, seq: number): void {
    const last = this.lastSeq.get(chatId);
    // The device's own first message of a new chat: nothing below it, the position starts there.
    if (last === undefined && seq === 1) {
      this.lastSeq.set(chatId, 1);
      return;
    }
    // Positions at or below are already passed.
    if (last !== undefined && seq <= last) return;
    this.ownAhead ??= new Map();
    let ahead = this.ownAhead.get(chatId);
    // Noted in a chat with no message on this socket yet too: if its seq 1 arrives next (no
    // store read), the position must still skip this device's own seqs above it. Bounded:
    // past MAX_OWN_AHEAD_CHATS chats, such a chat's note is skipped (at most a gap fill later);
    // chats this socket already follows are noted as before.
    if (!ahead && last === undefined && this.ownAhead.size >= MAX_OWN_AHEAD_CHATS) return;
    if (!ahead) this.ownAhead.set(chatId, (ahead = new Set()));
    if (ahead.size >= 1000) ahead.clear(); // never filled: at worst the next message does a gap fill
    ahead.add(seq);
    this.position(chatId);
  }

  /** The last seq this socket is past in a chat (undefined: no message of it on this socket yet). */
  positionIn(chatId: string): number | undefined {
    return this.position(chatId);
  }

  /** The last seq this socket is past in a chat, moving over own messages right above it. */
  private position(chatId: string): number | undefined {
    let last = this.lastSeq.get(chatId);
    const ahead = this.ownAhead?.get(chatId);
    if (last === undefined || !ahead) return last;
    while (ahead.delete(last + 1)) last++;
    if (ahead.size === 0) this.ownAhead!.delete(chatId);
    if (this.ownAhead!.size === 0) this.ownAhead = null;
    this.lastSeq.set(chatId, last);
    return last;
  }

  /** A bus event for this device. */
  deliver(event: MessageEvent | FrameEvent): void {
    if (event.kind === 'frame') {
      // A status frame on a ?batch=1 socket that wrote nothing this tick waits (at most
      // rideMs) for the next frame to it, and goes first in that frame's message: one
      // WebSocket message less for a sender who hears from the server anyway. Nothing
      // overtakes it: any write releases it first.
      if (this.batch && event.rideMs && event.rideMs > 0 && !this.batched && !this.closed) {
        this.ride(event.frame, event.rideMs);
        return;
      }
      this.write(event.frame);
      return;
    }
    if (this.held) {
      this.hold(event);
      return;
    }
    const last = this.position(event.chatId);
    if (last !== undefined && event.seq <= last) {
      if (event.redeliver) this.writeMessage(event.frame);
      return;
    }
    // A gap while this device's own sends to the chat are in flight is usually those sends
    // (committed, not yet acknowledged here: another node's publish overtook the ack):
    // wait for their acks instead of reading the store.
    if (last !== undefined && event.seq > last + 1 && this.ownInFlight?.has(event.chatId)) {
      this.parked ??= new Map();
      let parked = this.parked.get(event.chatId);
      if (!parked) this.parked.set(event.chatId, (parked = []));
      if (
        parked.length < MAX_PARKED_PER_CHAT &&
        this.parkedCount < MAX_HELD_EVENTS &&
        this.parkedBytes + event.frame.length <= MAX_HELD_BYTES
      ) {
        parked.push(event);
        this.parkedCount++;
        this.parkedBytes += event.frame.length;
        return;
      }
    }
    // Seq 1 of a chat new to this socket has nothing below it: no store read needed.
    if ((last === undefined && event.seq > 1) || (last !== undefined && event.seq > last + 1)) {
      // A chat new to this socket, or a gap (events from several nodes can arrive out of
      // order): whatever this device is owed below this seq comes from the store first.
      if (last !== undefined) this.opts.metrics.gapFills.inc();
      this.held = [event];
      void this.fillGap(event.chatId, last ?? null, event.seq - 1);
      return;
    }
    this.lastSeq.set(event.chatId, event.seq);
    this.writeMessage(event.frame);
  }

  private writeMessage(text: string): void {
    this.opts.metrics.messagesDelivered.inc();
    this.write(text, true);
  }

  /** Holds a live message during a replay or gap fill, within MAX_HELD_EVENTS / MAX_HELD_BYTES. */
  private hold(event: MessageEvent): void {
    const held = this.held!;
    const dropping = this.dropped !== null || held.length >= MAX_HELD_EVENTS || this.heldBytes + event.frame.length > MAX_HELD_BYTES;
    if (!dropping) {
      held.push(event);
      this.heldBytes += event.frame.length;
      return;
    }
    // Once dropping, every later message is dropped too, so what is held stays below
    // what is dropped in each chat and the store read after the release continues it.
    this.dropped ??= new Map();
    this.dropped.set(event.chatId, Math.max(this.dropped.get(event.chatId) ?? 0, event.seq));
  }

  /** Writes what the store has for the chat in (after, upto] and moves the position to upto. */
  private async fill(chatId: string, after: number | null, upto: number): Promise<void> {
    let from = after;
    for (;;) {
      const page = await this.opts.fetchRange(this, chatId, from, upto, BACKLOG_PAGE);
      await this.replayMessages(chatId, page);
      if (page.length < BACKLOG_PAGE || this.closed) break;
      from = page[page.length - 1]!.seq;
    }
    // The store's answer is complete up to `upto` (whatever this member may not see
    // is not in it), so the position moves there even when nothing came back.
    this.lastSeq.set(chatId, Math.max(this.lastSeq.get(chatId) ?? 0, upto));
    // Own seqs the fill passed are no longer ahead (noted before the chat's first message came).
    const ahead = this.ownAhead?.get(chatId);
    if (ahead) for (const seq of ahead) if (seq <= upto) ahead.delete(seq);
    this.position(chatId);
  }

  private async fillGap(chatId: string, after: number | null, upto: number): Promise<void> {
    try {
      await this.fill(chatId, after, upto);
    } catch (err) {
      // Cannot fill the gap now: let the device reconnect and replay from its cursor.
      this.opts.onError(this, err);
      this.close(CloseCode.reconnect, 'resync: reconnect');
      return;
    }
    this.release();
  }

  /** Writes replayed log entries of one chat (ascending: messages and changes), pausing while the socket is backed up. */
  async replayMessages(chatId: string, messages: LogEntry[]): Promise<void> {
    for (const m of messages) {
      if (this.closed) return;
      const last = this.lastSeq.get(chatId) ?? 0;
      if (m.seq <= last || m.sender_device_id === this.deviceId) {
        if (m.seq > last) this.lastSeq.set(chatId, m.seq);
        continue;
      }
      this.lastSeq.set(chatId, m.seq);
      this.opts.metrics.messagesDelivered.inc();
      this.transport.send(JSON.stringify(entryFrame(m)));
      if (this.transport.bufferedAmount > this.highWater) await this.drained();
    }
  }

  /**
   * The bus may have lost events meant for this socket (its Redis connection dropped):
   * hold live messages while `run` writes from the store what this device is owed, then
   * release them. The socket stays open; run after any replay or gap fill in progress.
   */
  catchUp(run: () => Promise<void>): void {
    if (this.closed) return;
    if (this.held) {
      this.catchUpOwed = run;
      return;
    }
    this.held = [];
    this.runCatchUp(run);
  }

  private runCatchUp(run: () => Promise<void>): void {
    run().then(
      () => this.release(),
      (err) => {
        // Cannot read the store now: fall back to a reconnect, which replays from the cursors.
        this.opts.onError(this, err);
        this.close(CloseCode.reconnect, 'resync: reconnect');
      },
    );
  }

  /** Marks the replay done: releases live messages held meanwhile, in order, then reads back any that were dropped. */
  release(): void {
    const owed = this.catchUpOwed;
    if (owed && !this.closed) {
      // Keep holding: the catch-up reads everything owed from the store, dropped messages included.
      this.catchUpOwed = null;
      this.dropped = null;
      this.runCatchUp(owed);
      return;
    }
    const held = this.held ?? [];
    const dropped = this.dropped;
    this.held = null;
    this.heldBytes = 0;
    this.dropped = null;
    for (const e of held) this.deliver(e);
    if (!dropped || this.closed) return;
    if (this.held) {
      // A released message started a gap fill: its release reads these back.
      const into = (this.dropped ??= new Map());
      for (const [chatId, seq] of dropped) into.set(chatId, Math.max(into.get(chatId) ?? 0, seq));
      return;
    }
    this.held = [];
    void this.refill(dropped);
  }

  /** Reads dropped live messages back from the store, holding new ones meanwhile. */
  private async refill(chats: Map<string, number>): Promise<void> {
    try {
      for (const [chatId, upto] of chats) {
        const last = this.position(chatId);
        if (last !== undefined && last >= upto) continue;
        await this.fill(chatId, last ?? null, upto);
        if (this.closed) return;
      }
    } catch (err) {
      this.opts.onError(this, err);
      this.close(CloseCode.reconnect, 'resync: reconnect');
      return;
    }
    this.release();
  }

  /**
   * Called periodically: a socket whose outbound buffer has stayed over the high-water
   * mark for stalledTimeoutMs is not reading; it is closed (4001) instead of holding its
   * buffer for ever.
   */
  checkStalled(now: number): void {
    if (this.closed) return;
    if (this.transport.bufferedAmount <= this.highWater) {
      this.stalledSince = null;
      return;
    }
    this.stalledSince ??= now;
    if (now - this.stalledSince >= this.opts.stalledTimeoutMs) this.closeSlow();
  }

  private closeSlow(): void {
    if (this.closed) return;
    this.opts.metrics.slowConsumerCloses.inc();
    this.close(CloseCode.slowConsumer, 'too slow: reconnect to resume', SLOW_CLOSE_GRACE_MS);
  }

  /**
   * Resolves once the socket's outbound buffer is down to a quarter of the replay
   * high-water mark, or once the socket is closed as too slow: a peer that does not read
   * for stalledTimeoutMs is closed, so the wait (and its timer) is bounded.
   */
  drained(): Promise<void> {
    const deadline = Date.now() + this.opts.stalledTimeoutMs;
    return new Promise((resolve) => {
      const check = () => {
        if (this.closed || this.transport.bufferedAmount <= this.highWater / 4) return resolve();
        if (Date.now() >= deadline) {
          this.closeSlow();
          return resolve();
        }
        setTimeout(check, 5);
      };
      check();
    });
  }

  close(code: number, reason: string, graceMs = 5000): void {
    if (this.closed) return;
    // What this tick wrote goes before the close frame (an error saying why, say).
    this.flushBatch();
    this.closed = true;
    this.held = null;
    this.dropped = null;
    this.riding = null;
    if (this.ridingTimer) clearTimeout(this.ridingTimer);
    this.ridingTimer = null;
    this.transport.close(code, reason);
    // A peer that stopped reading never completes the close handshake: cut it loose.
    setTimeout(() => this.transport.terminate(), graceMs).unref();
  }
}
