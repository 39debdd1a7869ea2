import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { healthz, relayMessage, SYNC_COMPLETE, type RelaySender } from './relay-frames.js';

/*
 * The Socket.IO reference relay: `node socketio-relay.js PORT [REDIS_URL]`. With a Redis
 * URL it uses the official Redis adapter, the way Socket.IO apps scale past one process:
 * a frame for a user on another process goes through Redis pub/sub. WebSocket transport
 * only (no long-polling), no storage. Frames travel as objects, one event argument each, as
 * Socket.IO apps write them (not JSON text inside a string, which Socket.IO would escape
 * and both sides would parse twice).
 */

const port = Number(process.argv[2] ?? 8091);
const redisUrl = process.argv[3];
const server = http.createServer(healthz);
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
if (redisUrl) {
  const pub = new Redis(redisUrl);
  io.adapter(createAdapter(pub, pub.duplicate()));
}

io.on('connection', (socket) => {
  const userId = String(socket.handshake.query.user ?? '');
  const me: RelaySender = { userId, seq: 0 };
  void socket.join(`u:${userId}`);
  socket.on('f', (frame: unknown) => {
    const out = relayMessage(me, frame);
    if (out.reply) socket.emit('f', out.reply);
    if (out.forward) io.to(`u:${out.forward.userId}`).emit('f', out.forward.frame);
  });
  socket.emit('f', SYNC_COMPLETE);
});

server.listen(port, '127.0.0.1');
