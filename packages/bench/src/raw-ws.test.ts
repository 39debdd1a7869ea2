import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSED, ioCounts, OPEN, RawWs, textFrame } from './raw-ws.js';
import { splitArray, Wire } from './wire.js';

/*
 * The generator's hand-written WebSocket client (raw-ws.ts) against a real `ws` server:
 * frames of every length encoding go both ways intact, frames sent in one callback share
 * one write, fragmented messages are joined, pings are answered and the close handshake
 * completes. A frame the server cannot parse would close the socket with 1002. With
 * ?batch=1 (Switchboard's), a callback's frames go as one JSON array and arrays received are
 * split into their frames.
 */

async function withServer(fn: (url: string, conns: WebSocket[], paths: string[]) => Promise<void>): Promise<void> {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
  const conns: WebSocket[] = [];
  /** Each connection's request path and query. */
  const paths: string[] = [];
  wss.on('connection', (ws, req) => {
    conns.push(ws);
    paths.push(req.url ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    await fn(`ws://127.0.0.1:${port}/ws?x=1`, conns, paths);
  } finally {
    for (const c of conns) c.terminate();
    wss.close();
    await new Promise((r) => server.close(r));
  }
}

interface Got {
  messages: string[];
  closes: number[];
  errors: Error[];
}

function open(url: string): Promise<{ ws: RawWs; got: Got; next: (n: number) => Promise<void> }> {
  const got: Got = { messages: [], closes: [], errors: [] };
  let waiter: { n: number; resolve: () => void } | null = null;
  return new Promise((resolve, reject) => {
    const ws = new RawWs(url, {
      open: () =>
        resolve({
          ws,
          got,
          next: (n) => (got.messages.length >= n ? Promise.resolve() : new Promise<void>((r) => (waiter = { n, resolve: r }))),
        }),
      message: (buf, s, e) => {
        got.messages.push(buf.toString('latin1', s, e));
        if (waiter && got.messages.length >= waiter.n) waiter.resolve();
      },
      error: (err) => {
        got.errors.push(err);
        reject(err);
      },
      close: (code) => got.closes.push(code),
    });
  });
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
};

test('text frames of every length encoding round-trip through a ws server, both ways', async () => {
  await withServer(async (url, conns) => {
    const c = await open(url);
    assert.equal(c.ws.readyState, OPEN);
    await until(() => conns.length === 1, 'server saw the connection');
    const server = conns[0]!;
    const received: string[] = [];
    server.on('message', (data, isBinary) => {
      assert.equal(isBinary, false);
      received.push(data.toString());
    });
    const texts = ['', 'a', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(4095), 'w'.repeat(4096), 'v'.repeat(65535), 'u'.repeat(70_000)];
    for (const t of texts) c.ws.send(t);
    await until(() => received.length === texts.length, 'server got every frame');
    assert.deepEqual(received, texts);
    for (const t of texts) server.send(t);
    await c.next(texts.length);
    assert.deepEqual(c.got.messages, texts);
    assert.deepEqual(c.got.errors, []);
  });
});

test('frames sent in one callback go out in one write; a frame cut across reads is joined', async () => {
  await withServer(async (url, conns) => {
    const c = await open(url);
    await until(() => conns.length === 1, 'server saw the connection');
    const server = conns[0]!;
    const received: string[] = [];
    server.on('message', (data) => received.push(data.toString()));
    const before = ioCounts.writes;
    for (let i = 0; i < 50; i++) c.ws.send(`{"n":${i}}`);
    await until(() => received.length === 50, 'server got all 50');
    assert.equal(ioCounts.writes - before, 1, 'one write for 50 frames');
    assert.deepEqual(
      received,
      Array.from({ length: 50 }, (_, i) => `{"n":${i}}`),
    );
    // A large message from the server arrives in several reads.
    const big = 'q'.repeat(600_000);
    server.send(big);
    server.send('after');
    await c.next(2);
    assert.equal(c.got.messages[0]!.length, big.length);
    assert.equal(c.got.messages[1], 'after');
  });
});

test('fragmented messages are joined, pings answered, the close handshake completes', async () => {
  await withServer(async (url, conns) => {
    const c = await open(url);
    await until(() => conns.length === 1, 'server saw the connection');
    const server = conns[0]!;
    server.send('frag-', { fin: false });
    server.send('ment', { fin: true });
    await c.next(1);
    assert.equal(c.got.messages[0], 'frag-ment');
    const pong = new Promise<Buffer>((r) => server.once('pong', r));
    server.ping('hello');
    assert.equal((await pong).toString(), 'hello');
    const closed = new Promise<number>((r) => server.once('close', (code) => r(code)));
    c.ws.close(4000);
    assert.equal(await closed, 4000);
    await until(() => c.ws.readyState === CLOSED, 'socket closed');
    assert.deepEqual(c.got.closes, [4000]);
  });
});

test('a refused upgrade is an error; frames are masked with a zero key (payload as is)', async () => {
  await withServer(async (url) => {
    await assert.rejects(open(url.replace('/ws', '/nope')), /upgrade refused: HTTP\/1.1 400/);
  });
  const f = Buffer.from(textFrame('hi'), 'latin1');
  assert.deepEqual([...f], [0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]);
});

test("batch: a callback's frames leave as one array (100 at most, a lone frame as itself); arrays received are split into their frames", async () => {
  await withServer(async (url, conns, paths) => {
    const frames: string[] = [];
    const errors: Error[] = [];
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    const wire = new Wire(
      'ws',
      url,
      { frame: (buf, start) => frames.push(buf.toString('latin1', start)), error: (err) => errors.push(err), close: () => {} },
      undefined,
      true,
    );
    await until(() => conns.length === 1, 'server saw the connection');
    const server = conns[0]!;
    assert.equal(paths[0], '/ws?x=1&batch=1', 'the socket asks for ?batch=1');
    const received: string[] = [];
    server.on('message', (data) => received.push(data.toString()));
    server.send('{"type":"sync_complete"}', () => opened());
    await isOpen;
    await until(() => wire.readyState === OPEN && frames.length === 1, 'a lone frame as itself');
    assert.deepEqual(frames, ['{"type":"sync_complete"}']);

    const before = ioCounts.messagesOut;
    for (let i = 0; i < 250; i++) wire.send(`{"n":${i}}`);
    await until(() => received.length === 3, 'three messages');
    assert.equal(ioCounts.messagesOut - before, 3, 'counted as WebSocket messages, not frames');
    const parsed = received.map((r) => JSON.parse(r) as { n: number }[]);
    assert.deepEqual(
      parsed.map((a) => a.length),
      [100, 100, 50],
    );
    assert.deepEqual(
      parsed.flat().map((f) => f.n),
      Array.from({ length: 250 }, (_, i) => i),
    );
    wire.send('{"n":"alone"}');
    await until(() => received.length === 4, 'a lone frame');
    assert.equal(received[3], '{"n":"alone"}');

    // Content that looks like structure: braces, brackets, commas, escaped quotes and backslashes.
    const tricky = [
      { type: 'new_message', content: '},{"type":"ack_sent"}', seq: 1 },
      { type: 'new_message', content: '[[{]] \\" ]', seq: 2, nested: { a: [1, { b: '}' }] } },
      { type: 'new_message', content: 'ends in a backslash \\', seq: 3 },
      { type: 'ack_sent', client_msg_id: 'x', seq: 4 },
    ];
    server.send(JSON.stringify(tricky));
    await until(() => frames.length === 5, 'four frames from one array');
    assert.deepEqual(
      frames.slice(1).map((f) => JSON.parse(f) as unknown),
      tricky,
    );
    assert.deepEqual(errors, []);
    wire.close();
    await until(() => wire.readyState === CLOSED, 'closed');
  });
});

test('splitArray: elements of a JSON array by their bytes, string-aware, and nothing past a malformed end', () => {
  const split = (text: string) => {
    const buf = Buffer.from(`xx${text}yy`, 'latin1');
    const out: string[] = [];
    const n = splitArray(buf, 2, 2 + text.length, (s, e) => out.push(buf.toString('latin1', s, e)));
    assert.equal(n, out.length);
    return out;
  };
  const objects = [{ a: '"},{"' }, { b: '\\' }, { c: ['[', '{'] }, {}];
  assert.deepEqual(
    split(JSON.stringify(objects)),
    objects.map((o) => JSON.stringify(o)),
  );
  assert.deepEqual(split('[]'), []);
  assert.deepEqual(split('[{"a":1},{"b":"unterminated'), ['{"a":1}']);
});
