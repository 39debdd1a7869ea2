import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { frameSocket, sharedFrame } from './shared-frame.js';

/*
 * A prepared frame written to the TCP stream under a `ws` socket must read, at the peer,
 * exactly like ws.send(text), in order with what ws.send wrote around it, for every length
 * encoding (7-bit, 16-bit, 64-bit) and for text that is not ASCII.
 */
test('prepared frames arrive as the same text messages as ws.send, in order, at every length', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  t.after(() => wss.close());
  await once(wss, 'listening');
  const texts = [
    '',
    'a',
    'é☃😀',
    'x'.repeat(125),
    'x'.repeat(126),
    'ü'.repeat(40_000),
    'y'.repeat(65_535),
    'z'.repeat(65_536),
    'w'.repeat(200_000),
  ];
  wss.on('connection', (ws) => {
    for (const [i, text] of texts.entries()) {
      const socket = frameSocket(ws as never);
      assert.ok(socket, 'a ws socket without extensions takes prepared frames');
      if (i % 2) ws.send(text);
      else socket.write(sharedFrame(text));
      ws.send(`after ${i}`); // ws's own writes keep their place around the prepared ones
    }
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  t.after(() => client.terminate());
  const got: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    client.on('message', (data, isBinary) => {
      if (isBinary) reject(new Error('a binary message'));
      got.push(data.toString());
      if (got.length === texts.length * 2) resolve();
    });
    client.on('error', reject);
  });
  await done;
  assert.deepEqual(
    got,
    texts.flatMap((text, i) => [text, `after ${i}`]),
  );
});

test('a socket with permessage-deflate negotiated is left to ws', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  t.after(() => wss.close());
  await once(wss, 'listening');
  const seen = new Promise<unknown>((resolve) => wss.on('connection', (ws) => resolve(frameSocket(ws as never))));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: true });
  await once(client, 'open');
  t.after(() => client.terminate());
  assert.equal(await seen, undefined);
});
