import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_FRAME_BYTES } from '@switchboard/protocol';
import type { Accounts } from '../core/accounts.js';
import { ApiError } from '../core/errors.js';
import type { Limits } from '../core/limits.js';
import type { WsTickets } from '../core/ws-tickets.js';
import { userTopic, type Bus } from '../engines/bus/bus.js';
import type { DeviceRecord } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';
import type { Connection } from './connection.js';
import { TRANSPORT_OPEN } from './frame-transport.js';
import { HttpStream, PollStream, SseStream, pollBody, type PollWaiter, type StreamClose } from './http-stream.js';
import { sendJson, type Router } from './http-util.js';
import { socketDevice } from './socket-auth.js';
import type { StreamBusEvent, WsGateway } from './ws-gateway.js';

export interface EventStreamsDeps {
  gateway: WsGateway;
  accounts: Accounts;
  tickets: WsTickets;
  limits: Limits;
  bus: Bus;
  /** This node's name: stream ids carry it, so any node knows where a stream lives. */
  nodeName: string;
  /** Names of the cluster's live nodes (empty when embedded: every stream is here). */
  liveNodes: () => Promise<string[]>;
  log: Logger;
  config: { pollWaitMs: number; idleMs: number; commentMs: number };
}

interface Entry {
  stream: HttpStream;
  conn: Connection;
  userId: string;
  deviceId: string;
  /** A long-poll stream that closed: kept until its client has been told (or idleMs). */
  closedAt?: number;
}

/** A poll relayed to another node waits this much longer than the poll itself before giving the stream up. */
const RELAY_GRACE_MS = 5_000;

/**
 * GET /v1/events and POST /v1/events/{stream_id} (PROTOCOL.md "Without WebSockets"): a
 * socket over plain HTTP. A stream is a Connection of the gateway whose transport is an
 * HttpStream, so presence, replay, sync_complete, limits, ordering, acks and closes
 * (logout, revocation, suspension, shutdown) are the socket's own code.
 *
 * In a cluster a stream lives on the node whose GET opened it; its id names that node. A
 * POST or a long-poll that reaches another node (a load balancer without stickiness) is
 * relayed over the bus on the user's topic, which the owning node listens to while the
 * stream is open: frames as a `stream-frames` event, a poll as `stream-poll`, answered
 * with `stream-batch`. A stream whose node died is gone (404): the client opens a new one
 * and replays, as after a lost socket.
 */
export class EventStreams {
  private readonly streams = new Map<string, Entry>();
  /** Polls relayed from here to the stream's node, by poll id. */
  private readonly relayed = new Map<string, (event: Extract<StreamBusEvent, { kind: 'stream-batch' }>) => void>();
  private readonly nodeTag: string;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly deps: EventStreamsDeps) {
    this.nodeTag = Buffer.from(deps.nodeName).toString('base64url');
    deps.gateway.onStreamEvent((event) => this.onBusEvent(event));
    this.sweeper = setInterval(() => this.forgetClosed(), Math.max(50, Math.min(5_000, deps.config.idleMs / 4)));
    this.sweeper.unref();
  }

  routes(router: Router): void {
    router
      .on('GET', '/v1/events', async (req, res, _p, url) => this.get(req, res, url))
      .on('POST', '/v1/events/:stream_id', async (req, res, [streamId]) => this.post(req, res, streamId!));
  }

  /** Waits (at most maxMs) until every closed long-poll stream has told its client, by a poll's answer. */
  async told(maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    const waiting = () =>
      [...this.streams.values()].some((e) => e.closedAt !== undefined && e.stream instanceof PollStream && !e.stream.told);
    while (waiting() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const finish of this.relayed.values()) finish({ kind: 'stream-batch', pollId: '', frames: [], closed: null, gone: true });
  }

  private async get(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const accept = req.headers.accept ?? '';
    const mode = accept.includes('text/event-stream') ? 'sse' : accept.includes('application/json') ? 'poll' : null;
    if (!mode) {
      throw new ApiError(406, 'invalid_request', 'Accept: text/event-stream (Server-Sent Events) or application/json (long polling)');
    }
    const device = await this.authenticate(req);
    const streamId = url.searchParams.get('stream_id');
    if (streamId !== null) {
      if (mode !== 'poll') throw new ApiError(400, 'invalid_request', 'stream_id is for long polling (Accept: application/json)');
      return this.poll(req, res, device, streamId);
    }
    if (this.deps.gateway.isDraining) return sendJson(res, 503, { error: 'unavailable', message: 'this node is shutting down' });
    // The socket limits (sockets per device and per user): a stream is a socket. RateLimited answers 429.
    const release = await this.deps.limits.openSocket(device.userId, device.id);
    if (req.destroyed) return release();
    const id = `${this.nodeTag}.${randomBytes(16).toString('base64url')}`;
    const first = JSON.stringify({ type: 'stream', stream_id: id });
    if (mode === 'sse') {
      // The stream may stay quiet for a while between comments: no socket timeout cuts it.
      req.socket.setTimeout(0);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // nginx: do not buffer this response (docs/deploy).
        'x-accel-buffering': 'no',
      });
      const stream = new SseStream(id, res, this.deps.config.commentMs);
      stream.send(first);
      this.open(stream, device, release);
      return;
    }
    const stream = new PollStream(id);
    stream.send(first);
    this.open(stream, device, release);
    // Answered at once with the stream frame: replay follows on the next polls.
    stream.poll(this.localWaiter(req, res, stream), 0);
  }

  private open(stream: HttpStream, device: DeviceRecord, release: () => void): void {
    const entry = { stream, userId: device.userId, deviceId: device.id } as Entry;
    this.streams.set(stream.id, entry);
    entry.conn = this.deps.gateway.openStream(stream, device.userId, device.id, () => {
      release();
      if (stream instanceof PollStream) entry.closedAt = Date.now();
      else this.streams.delete(stream.id);
    });
  }

  /** A long-poll answer written to this request's response; a request that goes first abandons its poll. */
  private localWaiter(req: IncomingMessage, res: ServerResponse, stream: PollStream): PollWaiter {
    const waiter: PollWaiter = {
      answer: (frames, closed) => {
        if (res.writableEnded || res.destroyed) return;
        const body = pollBody(frames, closed);
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        });
        res.end(body);
      },
    };
    res.on('close', () => {
      if (!res.writableEnded) stream.abandon(waiter);
    });
    req.socket.setTimeout(0);
    return waiter;
  }

  private async poll(req: IncomingMessage, res: ServerResponse, device: DeviceRecord, streamId: string): Promise<void> {
    const entry = this.streams.get(streamId);
    if (entry) {
      if (entry.deviceId !== device.id) throw gone();
      if (!(entry.stream instanceof PollStream))
        throw new ApiError(400, 'invalid_request', 'an event stream (SSE) is read on its own response');
      const stream = entry.stream;
      stream.poll(this.localWaiter(req, res, stream), this.deps.config.pollWaitMs);
      if (stream.told) this.streams.delete(streamId);
      return;
    }
    const owner = await this.liveOwner(streamId);
    if (!owner) throw gone();
    await this.relayPoll(res, device, streamId);
  }

  /** A poll of a stream held by another node: asked over the bus, answered when that node answers. */
  private async relayPoll(res: ServerResponse, device: DeviceRecord, streamId: string): Promise<void> {
    const { gateway, bus, config } = this.deps;
    const stopListening = await gateway.listen(device.userId);
    const pollId = randomUUID();
    await new Promise<void>((resolve) => {
      const finish = (event: Extract<StreamBusEvent, { kind: 'stream-batch' }> | null) => {
        if (!this.relayed.has(pollId)) return;
        this.relayed.delete(pollId);
        clearTimeout(timer);
        stopListening();
        resolve();
        if (res.writableEnded || res.destroyed) return;
        // No answer in time, or no such stream there: gone, the client opens a new stream and replays.
        if (!event || event.gone) return sendJson(res, 404, { error: 'not_found', message: 'no such stream: open a new one' });
        const body = pollBody(event.frames, event.closed);
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        });
        res.end(body);
      };
      const timer = setTimeout(() => finish(null), config.pollWaitMs + RELAY_GRACE_MS);
      this.relayed.set(pollId, finish);
      res.req.socket.setTimeout(0);
      bus
        .publish([userTopic(device.userId)], {
          kind: 'stream-poll',
          streamId,
          userId: device.userId,
          deviceId: device.id,
          pollId,
          waitMs: config.pollWaitMs,
        })
        .catch((err: unknown) => {
          this.deps.log.warn({ err }, 'relaying a poll failed');
          finish(null);
        });
    });
  }

  private async post(req: IncomingMessage, res: ServerResponse, streamId: string): Promise<void> {
    const device = await this.authenticate(req);
    const text = await readFrames(req);
    const entry = this.streams.get(streamId);
    if (entry) {
      if (entry.deviceId !== device.id || entry.stream.readyState !== TRANSPORT_OPEN) throw gone();
      // Too many sends in flight on this stream: the POST waits, as a socket's reading would.
      await entry.stream.readable();
      this.deps.gateway.receive(entry.conn, text);
      return sendJson(res, 202, {});
    }
    if (!(await this.liveOwner(streamId))) throw gone();
    const [reached] = await this.deps.bus.publish([userTopic(device.userId)], {
      kind: 'stream-frames',
      streamId,
      deviceId: device.id,
      text,
    });
    if (!reached) throw gone();
    sendJson(res, 202, {});
  }

  /** The stream's node when it is another live node; null when it is this one (and the stream is gone) or dead. */
  private async liveOwner(streamId: string): Promise<string | null> {
    const tag = streamId.split('.')[0] ?? '';
    if (tag === this.nodeTag || tag === '') return null;
    const name = Buffer.from(tag, 'base64url').toString();
    const live = await this.deps.liveNodes();
    return live.includes(name) ? name : null;
  }

  private onBusEvent(event: StreamBusEvent): void {
    if (event.kind === 'stream-batch') {
      this.relayed.get(event.pollId)?.(event);
      return;
    }
    const entry = this.streams.get(event.streamId);
    const mine = event.streamId.startsWith(`${this.nodeTag}.`);
    if (!mine) return;
    const usable = entry && entry.deviceId === event.deviceId;
    if (event.kind === 'stream-frames') {
      if (usable && entry.stream.readyState === TRANSPORT_OPEN) {
        void entry.stream.readable().then(() => this.deps.gateway.receive(entry.conn, event.text));
      }
      return;
    }
    const answer = (frames: string[], closed: StreamClose | null, isGone = false) => {
      void this.deps.bus
        .publish([userTopic(event.userId)], {
          kind: 'stream-batch',
          pollId: event.pollId,
          frames,
          closed,
          ...(isGone ? { gone: true } : {}),
        })
        .catch((err: unknown) => this.deps.log.warn({ err }, 'answering a relayed poll failed'));
    };
    // Not here any more (or not this device's): told at once rather than after the relay's timeout.
    if (!usable || !(entry.stream instanceof PollStream)) return answer([], null, true);
    entry.stream.poll({ answer: (frames, closed) => answer(frames, closed) }, event.waitMs);
  }

  /** Long-poll streams that closed: forgotten once their client was told, or after the idle time. */
  private forgetClosed(): void {
    const now = Date.now();
    for (const [id, entry] of this.streams) {
      if (entry.closedAt === undefined) continue;
      const stream = entry.stream as PollStream;
      if (stream.told || now - entry.closedAt > this.deps.config.idleMs) this.streams.delete(id);
    }
  }

  private async authenticate(req: IncomingMessage): Promise<DeviceRecord> {
    // The socket's authentication (PROTOCOL.md): bearer header, ?ticket= or ?access_token=.
    const device = await socketDevice(req, this.deps.accounts, this.deps.tickets);
    if (!device) throw new ApiError(401, 'unauthorized', 'a valid bearer token or socket ticket is required');
    return device;
  }
}

function gone(): ApiError {
  return new ApiError(404, 'not_found', 'no such stream: open a new one');
}

/** A POST's body: one frame or an array of frames, at most 1 MiB as on the socket. */
async function readFrames(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FRAME_BYTES) throw new ApiError(413, 'invalid_request', 'a POST of frames is at most 1 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
