import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { healthz, relayFrame, SYNC_COMPLETE, type RelaySender } from './relay-frames.js';

/*
 * The bare `ws` reference relay (one process): `node ws-relay.js PORT`. The floor of what
 * any Node WebSocket server can do on this machine: a map from user to sockets, no
 * storage, no acknowledgement semantics beyond an immediate reply.
 */

const port = Number(process.argv[2] ?? 8090);
const byUser = new Map<string, Set<WebSocket>>();
const server = http.createServer(healthz);
const wss = new WebSocketServer({ server, path: '/v1/ws', perMessageDeflate: false });

wss.on('connection', (ws, req) => {
  const userId = new URL(req.url ?? '/', 'http://x').searchParams.get('user') ?? '';
  const me: RelaySender = { userId, seq: 0 };
  let mine = byUser.get(userId);
  if (!mine) byUser.set(userId, (mine = new Set()));
  mine.add(ws);
  ws.on('message', (data) => {
    const out = relayFrame(me, data.toString());
    if (out.reply) ws.send(out.reply);
    if (out.forward) for (const peer of byUser.get(out.forward.userId) ?? []) peer.send(out.forward.text);
  });
  ws.on('close', () => mine.delete(ws));
  ws.send(JSON.stringify(SYNC_COMPLETE));
});

server.listen(port, '127.0.0.1');
