import fc from 'fast-check';
import { WebSocket } from 'ws';
import { directChatId, parseClientFrame } from '@switchboard/protocol';

/*
 * A property-based fuzzer against a LIVE server (issue 9): random and mutated socket
 * frames and HTTP requests (wrong types, huge numbers, deep nesting, long strings, odd
 * Unicode, valid frames in hostile orders), generated with fast-check from a seed, while
 * two other users keep messaging each other. What must hold, per PROTOCOL.md:
 * - the server never goes down;
 * - every frame the protocol's own parser refuses (and every binary frame) is answered
 *   with an `error` frame, and the socket stays open;
 * - no HTTP request gets a 5xx;
 * - the other users' messages keep arriving, every one, in order.
 */

export interface FuzzOptions {
  baseUrl: string;
  /** Things to throw in all (socket frames and HTTP requests). */
  throws: number;
  /** fast-check seed: the same seed throws the same things. */
  seed: number;
  /** Fuzzing sockets working at once (each its own user). */
  sockets: number;
  /** Share of throws that are HTTP requests (0..1). */
  httpShare: number;
  /** Is the server still alive (process check)? Called when something looks wrong, and at the end. */
  alive?: () => Promise<boolean>;
  log?: (line: string) => void;
}

export interface FuzzResult {
  seed: number;
  thrown: number;
  framesThrown: number;
  httpThrown: number;
  /** Frames the protocol parser refuses (or binary): each must get an error frame. */
  badFrames: number;
  errorFrames: number;
  crashes: number;
  /** Protocol violations: unanswered bad frames, 5xx, sockets closed on us, lost or reordered control messages. */
  errors: string[];
  controlSent: number;
  controlDelivered: number;
  elapsedMs: number;
}

type Throw = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array } | HttpThrow;
interface HttpThrow {
  kind: 'http';
  method: string;
  path: string;
  body?: string;
  auth: boolean;
}

interface Account {
  user_id: string;
  token: string;
}

const MAX_FRAME = 1_000_000; // under the server's 1 MiB frame limit: a bigger one closes the socket by design (1009)

async function call(baseUrl: string, method: string, path: string, opts: { token?: string; body?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(baseUrl + path, { method, headers, body: opts.body });
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

async function account(baseUrl: string, prefix: string): Promise<Account> {
  const username = `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`.slice(0, 32);
  const password = 'fuzzing password';
  const reg = await call(baseUrl, 'POST', '/v1/users', { body: JSON.stringify({ username, password }) });
  if (reg.status !== 201) throw new Error(`fuzz setup: register ${reg.status} ${JSON.stringify(reg.body)}`);
  const s = await call(baseUrl, 'POST', '/v1/sessions', { body: JSON.stringify({ username, password }) });
  if (s.status !== 201) throw new Error(`fuzz setup: login ${s.status} ${JSON.stringify(s.body)}`);
  return { user_id: s.body.user_id, token: s.body.token };
}

// ---------- what to throw ----------

const hostileStrings = [
  '',
  '\u0000',
  '\ud800',
  '\udfff',
  'a\ud800b',
  '\u202e\u2066',
  '\ufeff',
  '\u{1F600}\u{1F468}\u200d\u{1F469}\u200d\u{1F467}',
  'A\u0301\u0301\u0301',
  '%00',
  '%ED%A0%80',
  '../../../etc/passwd',
  'dm:',
  'g:',
  ':',
  'dm:1:2:3',
  '__proto__',
  'constructor',
  'NaN',
  '1e999',
  '"*NEAR(',
  '\u0001'.repeat(1000),
];

const oddString = fc.oneof(
  { weight: 16, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 4, arbitrary: fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 8 }) },
  { weight: 10, arbitrary: fc.constantFrom(...hostileStrings) },
  // Rarer (each is up to 600 KB on the wire): around the 100,000-character content
  // limit, and control characters (6 JSON bytes each).
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom(99_999, 100_000, 100_001, 150_000).map((n) => 'x'.repeat(n)),
      fc.integer({ min: 1, max: 100_001 }).map((n) => '\u0001'.repeat(n)),
    ),
  },
);

const hugeNumber = fc.constantFrom(
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  -0,
  2 ** 64,
  1e-320,
  0.5,
  -1,
  2 ** 31,
  Number.MIN_SAFE_INTEGER,
);

const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: hugeNumber },
  { weight: 3, arbitrary: oddString },
  { weight: 1, arbitrary: fc.array(oddString, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, {}, [], [[]], { type: 'ping' }) },
);

interface Pools {
  chats: string[];
  messages: string[];
  users: string[];
}

function validFrame(p: Pools): fc.Arbitrary<Record<string, unknown>> {
  const chat = fc.oneof(fc.constantFrom(...p.chats), oddString);
  const msg = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...p.messages) }, { weight: 1, arbitrary: oddString });
  const user = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...p.users) }, { weight: 1, arbitrary: oddString });
  const clientMsgId = fc.oneof(fc.uuid(), fc.constantFrom('same-id', 'same-id-2'), oddString);
  return fc.oneof(
    fc.record({ type: fc.constant('send_message'), chat_id: chat, client_msg_id: clientMsgId, content: oddString }),
    fc.record({ type: fc.constant('ack_delivered'), message_id: msg }),
    fc.record({ type: fc.constant('ack_delivered'), message_ids: fc.array(msg, { maxLength: 40 }) }),
    fc.record({ type: fc.constant('ack_read'), chat_id: chat, last_read_message_id: msg }),
    fc.record({ type: fc.constant('typing'), chat_id: chat, state: fc.constantFrom('composing', 'paused', 'other') }),
    fc.record({ type: fc.constant('presence_subscribe'), user_ids: fc.array(user, { maxLength: 30 }) }),
    fc.record({ type: fc.constant('presence_unsubscribe'), user_ids: fc.array(user, { maxLength: 30 }) }),
    fc.constant({ type: 'ping' }),
  );
}

function mutate(frame: Record<string, unknown>, pick: number, value: unknown, op: string): unknown {
  const keys = Object.keys(frame);
  const key = keys[pick % keys.length]!;
  const out: Record<string, unknown> = { ...frame };
  switch (op) {
    case 'delete':
      delete out[key];
      return out;
    case 'replace':
      out[key] = value;
      return out;
    case 'add':
      out[`x${pick % 7}`] = value;
      out.__proto__x = value;
      return out;
    case 'retype':
      out.type = typeof value === 'string' ? value : JSON.stringify(value);
      return out;
    case 'wrap':
      return [out];
    default:
      return value;
  }
}

function deepNesting(depth: number, shape: number): string {
  if (shape === 0) return '['.repeat(depth) + ']'.repeat(depth);
  if (shape === 1) return `{"type":"send_message","chat_id":"g:1","client_msg_id":"d","content":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  return `{"type":"presence_subscribe","user_ids":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
}

function socketThrow(p: Pools): fc.Arbitrary<Throw> {
  const text = (a: fc.Arbitrary<string>) => a.map((t): Throw => ({ kind: 'text', text: t }));
  return fc.oneof(
    { weight: 5, arbitrary: text(validFrame(p).map((f) => JSON.stringify(f))) },
    {
      weight: 8,
      arbitrary: text(
        fc
          .tuple(validFrame(p), fc.nat(), anyJson, fc.constantFrom('delete', 'replace', 'add', 'retype', 'wrap', 'whole'))
          .map(([f, i, v, op]) => JSON.stringify(mutate(f, i, v, op)) ?? 'undefined'),
      ),
    },
    { weight: 2, arbitrary: text(anyJson.map((v) => JSON.stringify(v) ?? 'null')) },
    {
      weight: 2,
      arbitrary: text(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.tuple(validFrame(p), fc.nat()).map(([f, n]) => {
            const s = JSON.stringify(f);
            return s.slice(0, n % s.length); // truncated JSON
          }),
          fc.constantFrom(
            '{"type":"ping","type":"send_message"}',
            '\ufeff{"type":"ping"}',
            '{"type":"ack_read","chat_id":"g:1","last_read_message_id":1e999}',
            '{"type":"typing","chat_id":"g:1","state":"composing"',
            '{"__proto__":{"type":"ping"}}',
            '{"type":"__proto__"}',
            '{"type":"constructor"}',
            '{"type":"toString"}',
            '{"type":null}',
            'null',
            '',
            ' ',
            '"ping"',
            '[{"type":"ping"}]',
          ),
        ),
      ),
    },
    {
      weight: 1,
      arbitrary: text(fc.tuple(fc.integer({ min: 10, max: 200_000 }), fc.nat(2)).map(([d, shape]) => deepNesting(d, shape))),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): Throw => ({ kind: 'binary', bytes })) },
  );
}

function httpThrow(p: Pools): fc.Arbitrary<Throw> {
  const rawSegment = fc.oneof(
    fc.constantFrom(...p.chats, ...p.users, ...p.messages),
    oddString.map((s) => {
      try {
        return encodeURIComponent(s.slice(0, 200));
      } catch {
        return '%ED%A0%80'; // a lone surrogate as UTF-8 bytes
      }
    }),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')),
  );
  const queryValue = fc.oneof(
    fc.constantFrom('0', '-1', '1e999', '9007199254740993', '201', '1001', 'abc', '', '%00', '%ff', '1.5', '0x10', ' 1'),
    rawSegment,
  );
  const path = fc.oneof(
    fc.constantFrom(
      '/v1/users',
      '/v1/sessions',
      '/v1/groups',
      '/v1/chats',
      '/v1/search',
      '/v1/users/me',
      '/v1/sessions/current',
      '/healthz',
    ),
    fc
      .tuple(
        fc.constantFrom('/v1/groups/', '/v1/users/', '/v1/chats/', '/v1/messages/'),
        rawSegment,
        fc.constantFrom('', '/members', '/messages', '/receipts', '/presence', '/members/x'),
      )
      .map(([a, b, c]) => a + b + c),
    fc
      .tuple(
        fc.constantFrom('/v1/chats/', '/v1/search?', '/v1/chats?', '/v1/users?'),
        fc.constantFrom(...p.chats),
        fc.array(fc.tuple(fc.constantFrom('after', 'before', 'limit', 'cursor', 'q', 'chat_id', 'username'), queryValue), { maxLength: 4 }),
      )
      .map(([base, chat, params]) => {
        const q = params.map(([k, v]) => `${k}=${v}`).join('&');
        return base === '/v1/chats/' ? `${base}${encodeURIComponent(chat)}/messages?${q}` : `${base}${q}`;
      }),
  );
  const body = fc.oneof(
    fc.constant(undefined),
    anyJson.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 50 }),
    fc
      .tuple(
        fc.record({
          username: oddString,
          password: oddString,
          display_name: anyJson,
          name: oddString,
          member_ids: fc.array(fc.oneof(fc.constantFrom(...p.users), oddString), { maxLength: 5 }),
          user_ids: fc.array(fc.oneof(fc.constantFrom(...p.users), oddString), { maxLength: 5 }),
        }),
        fc.nat(),
      )
      .map(([r, n]) => JSON.stringify(Object.fromEntries(Object.entries(r).filter((_, i) => (n >> i) & 1)))),
  );
  return fc
    .record({ method: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT'), path, body, auth: fc.boolean() })
    .filter((h) => !(h.auth && h.method === 'DELETE' && h.path.startsWith('/v1/sessions/current'))) // would end the fuzzer's own session
    .map((h): Throw => ({ kind: 'http', ...h }));
}

// ---------- the run ----------

/** One fuzzing socket: throws frames in rounds, each round ended by a ping whose pong must come. */
class FuzzSocket {
  ws!: WebSocket;
  errorFrames = 0;
  badFrames = 0;
  private pongs: (() => void)[] = [];
  unexpectedCloses: number[] = [];
  private closing = false;

  constructor(
    private readonly wsUrl: string,
    private readonly token: string,
  ) {}

  async open(): Promise<void> {
    this.ws = new WebSocket(this.wsUrl, { headers: { authorization: `Bearer ${this.token}` } });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let f: { type?: string };
      try {
        f = JSON.parse(data.toString()) as { type?: string };
      } catch {
        return;
      }
      if (f.type === 'error') this.errorFrames++;
      else if (f.type === 'pong') this.pongs.shift()?.();
    });
    this.ws.on('error', () => {});
    const ws = this.ws;
    ws.once('close', (code) => {
      if (!this.closing) this.unexpectedCloses.push(code);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  throw(t: Exclude<Throw, HttpThrow>): void {
    if (t.kind === 'binary') {
      this.badFrames++;
      this.ws.send(t.bytes, { binary: true });
      return;
    }
    if (!parseClientFrame(t.text).ok) this.badFrames++;
    this.ws.send(t.text);
  }

  /** Resolves when the server answered a ping sent after everything so far (or rejects after timeoutMs). */
  roundTrip(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no pong within ${timeoutMs} ms`)), timeoutMs);
      this.pongs.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.send('{"type":"ping"}');
    });
  }

  close(): void {
    this.closing = true; // our own close is expected
    this.ws.terminate();
  }
}

/** Two other users messaging each other throughout: each message must arrive, once, in order. */
async function controlTraffic(baseUrl: string, wsUrl: string) {
  const [a, b] = [await account(baseUrl, 'fzctla'), await account(baseUrl, 'fzctlb')];
  const chatId = directChatId(a.user_id, b.user_id);
  const open = (acc: Account) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${acc.token}` } });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  const [sa, sb] = [await open(a), await open(b)];
  const received: number[] = [];
  let acked = 0;
  sb.on('message', (d) => {
    const f = JSON.parse(d.toString()) as { type: string; chat_id?: string; content?: string; message_id?: string };
    if (f.type === 'new_message' && f.chat_id === chatId) {
      received.push(Number(f.content));
      sb.send(JSON.stringify({ type: 'ack_delivered', message_id: f.message_id }));
    }
  });
  sa.on('message', (d) => {
    if ((JSON.parse(d.toString()) as { type: string }).type === 'ack_sent') acked++;
  });
  let sent = 0;
  const timer = setInterval(() => {
    if (sa.readyState !== WebSocket.OPEN) return;
    sa.send(JSON.stringify({ type: 'send_message', chat_id: chatId, client_msg_id: `ctl-${sent}`, content: String(sent) }));
    sent++;
  }, 20);
  return {
    stop: async (): Promise<{ sent: number; acked: number; received: number[] }> => {
      clearInterval(timer);
      const deadline = Date.now() + 10_000;
      while ((acked < sent || received.length < sent) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      sa.terminate();
      sb.terminate();
      return { sent, acked, received };
    },
  };
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const log = opts.log ?? (() => {});
  const started = Date.now();
  const wsUrl = opts.baseUrl.replace(/^http/, 'ws') + '/v1/ws';
  const errors: string[] = [];
  const note = (e: string) => {
    if (errors.length < 200) errors.push(e);
  };
  let crashes = 0;

  // Setup: fuzzing users in one group, an HTTP user, and messages to name.
  const fuzzers = await Promise.all(Array.from({ length: opts.sockets }, (_, i) => account(opts.baseUrl, `fz${i}`)));
  const httpUser = await account(opts.baseUrl, 'fzhttp');
  const group = await call(opts.baseUrl, 'POST', '/v1/groups', {
    token: fuzzers[0]!.token,
    body: JSON.stringify({ name: 'fuzz', member_ids: fuzzers.slice(1).map((f) => f.user_id) }),
  });
  if (group.status !== 201) throw new Error(`fuzz setup: group ${group.status}`);
  const control = await controlTraffic(opts.baseUrl, wsUrl);
  const sockets = fuzzers.map((f) => new FuzzSocket(wsUrl, f.token));
  await Promise.all(sockets.map((s) => s.open()));
  // A few real messages, so acks and receipts can name them.
  const messages: string[] = [];
  for (let i = 0; i < 3; i++) {
    const ws = sockets[0]!.ws;
    const id = await new Promise<string>((resolve) => {
      const on = (d: WebSocket.RawData) => {
        const f = JSON.parse(d.toString()) as { type: string; message_id?: string; client_msg_id?: string };
        if (f.type === 'ack_sent' && f.client_msg_id === `seed-${i}`) {
          ws.off('message', on);
          resolve(f.message_id!);
        }
      };
      ws.on('message', on);
      ws.send(JSON.stringify({ type: 'send_message', chat_id: group.body.chat_id, client_msg_id: `seed-${i}`, content: `seed ${i}` }));
    });
    messages.push(id);
  }
  const pools: Pools = {
    chats: [
      group.body.chat_id,
      directChatId(fuzzers[0]!.user_id, httpUser.user_id),
      directChatId(fuzzers[0]!.user_id, fuzzers[0]!.user_id),
      'g:1',
      'g:00000000000000000',
      'dm:1:2',
      `dm:${fuzzers[0]!.user_id}:zzzz`,
    ],
    messages: [...messages, '1', '0', '-1', '99999999999999999999'],
    users: [...fuzzers.map((f) => f.user_id), httpUser.user_id, '1', 'nobody'],
  };

  const wsArb = socketThrow(pools);
  const httpArb = httpThrow(pools);
  let framesThrown = 0;
  let httpThrown = 0;
  const ROUND = 200;
  let round = 0;
  let lastLog = Date.now();
  while (framesThrown + httpThrown < opts.throws && crashes === 0) {
    const left = opts.throws - framesThrown - httpThrown;
    const perRound = Math.min(ROUND * opts.sockets, left);
    const nHttp = Math.round(perRound * opts.httpShare);
    const seed = opts.seed + round++;
    const frames = fc.sample(wsArb, { seed, numRuns: perRound - nHttp }) as Exclude<Throw, HttpThrow>[];
    const reqs = nHttp > 0 ? (fc.sample(httpArb, { seed: seed + 1_000_000, numRuns: nHttp }) as HttpThrow[]) : [];

    // Frames: split over the sockets; then each socket's ping must come back.
    const rounds = sockets.map(async (s, i) => {
      if (!s.isOpen) {
        note(`socket ${i} was closed (${s.unexpectedCloses.at(-1)}); reopening`);
        await s.open();
      }
      for (let k = i; k < frames.length; k += sockets.length) {
        const t = frames[k]!;
        if (t.kind === 'text' && Buffer.byteLength(t.text) > MAX_FRAME) continue;
        s.throw(t);
        framesThrown++;
      }
      await s.roundTrip(20_000).catch((err: Error) => note(`socket ${i}: ${err.message}`));
    });
    // HTTP: 8 at a time.
    const httpWork = (async () => {
      for (let k = 0; k < reqs.length; k += 8) {
        await Promise.all(
          reqs.slice(k, k + 8).map(async (h) => {
            httpThrown++;
            try {
              const res = await fetch(opts.baseUrl + h.path, {
                method: h.method,
                headers: {
                  ...(h.auth ? { authorization: `Bearer ${httpUser.token}` } : {}),
                  ...(h.body !== undefined ? { 'content-type': 'application/json' } : {}),
                },
                body: h.method === 'GET' || h.method === 'DELETE' ? undefined : h.body,
              });
              await res.arrayBuffer();
              if (res.status >= 500) note(`HTTP ${res.status}: ${h.method} ${h.path.slice(0, 120)} ${String(h.body).slice(0, 120)}`);
            } catch (err) {
              note(`HTTP failed: ${h.method} ${h.path.slice(0, 120)}: ${(err as Error).message}`);
            }
          }),
        );
      }
    })();
    await Promise.all([...rounds, httpWork]);
    if (errors.length > 0 && opts.alive && !(await opts.alive())) crashes++;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  ${framesThrown + httpThrown} thrown (${framesThrown} frames, ${httpThrown} HTTP), ${errors.length} errors`);
    }
  }

  // Every bad frame answered? Errors for sends come after their commit: give them a moment.
  const bad = () => sockets.reduce((n, s) => n + s.badFrames, 0);
  const answered = () => sockets.reduce((n, s) => n + s.errorFrames, 0);
  const deadline = Date.now() + 10_000;
  while (answered() < bad() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (answered() < bad()) note(`${bad() - answered()} bad frames got no error frame`);
  for (const [i, s] of sockets.entries()) {
    if (s.unexpectedCloses.length > 0)
      note(`socket ${i} closed by the server ${s.unexpectedCloses.length} time(s): ${s.unexpectedCloses.join(',')}`);
    if (s.isOpen) await s.roundTrip(10_000).catch((err: Error) => note(`socket ${i} at the end: ${err.message}`));
    s.close();
  }
  const ctl = await control.stop();
  const inOrder = ctl.received.every((v, i) => v === i);
  if (ctl.acked < ctl.sent) note(`control: ${ctl.sent - ctl.acked} of ${ctl.sent} sends not acknowledged`);
  if (ctl.received.length < ctl.sent || !inOrder)
    note(`control: ${ctl.received.length} of ${ctl.sent} messages arrived${inOrder ? '' : ', out of order'}`);
  if (opts.alive && !(await opts.alive())) crashes = Math.max(crashes, 1);
  try {
    const h = await fetch(`${opts.baseUrl}/healthz`);
    if (h.status !== 200) crashes = Math.max(crashes, 1);
  } catch {
    crashes = Math.max(crashes, 1);
  }
  return {
    seed: opts.seed,
    thrown: framesThrown + httpThrown,
    framesThrown,
    httpThrown,
    badFrames: bad(),
    errorFrames: answered(),
    crashes,
    errors,
    controlSent: ctl.sent,
    controlDelivered: ctl.received.length,
    elapsedMs: Date.now() - started,
  };
}

export function printFuzz(r: FuzzResult, log: (s: string) => void): void {
  log(`fuzz (seed ${r.seed}): ${r.thrown.toLocaleString('en-US')} thrown in ${(r.elapsedMs / 1000).toFixed(1)} s`);
  log(
    `  frames thrown: ${r.framesThrown.toLocaleString('en-US')} (${r.badFrames.toLocaleString('en-US')} bad, ${r.errorFrames.toLocaleString('en-US')} error frames back)`,
  );
  log(`  HTTP requests thrown: ${r.httpThrown.toLocaleString('en-US')}`);
  log(`  crashes: ${r.crashes}`);
  log(`  errors: ${r.errors.length}`);
  for (const e of r.errors.slice(0, 30)) log(`    ${e}`);
  log(`  control messages meanwhile: ${r.controlDelivered} of ${r.controlSent} delivered`);
}
