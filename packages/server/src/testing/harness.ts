import { FrameLog } from './frame-log.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { WebSocket } from 'ws';
import type { ServerFrame } from '@switchboard/protocol';
import { startServer, type RunningServer } from '../main.js';
import { loadConfig, type ServerConfig } from '../config.js';
import { DEFAULT_LIMITS } from '../core/limit-settings.js';
import type { Store } from '../engines/store/store.js';
export { waitUntil, pollUntil } from './poll.js';

/*
 * Test support: real servers (in this process or as a child process) and raw socket
 * clients. Tests talk to the server only over HTTP and WebSocket, as a client would.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const cliEntry = path.join(repoRoot, 'packages/cli/dist/main.js');

export function tempDir(prefix = 'switchboard-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface TestServer {
  baseUrl: string;
  wsUrl: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  server: RunningServer;
}

/**
 * Tests register many users from one address (127.0.0.1), which the default registration
 * limit (a burst of 30) would refuse: test servers allow far more unless a test sets its
 * own limits (limits.test.ts tests the registration limit itself). Likewise password
 * hashes cost N=1024 rather than the default 2^17, so thousands of users are quick.
 */
const TEST_REGISTRATIONS = { capacity: 100_000, perSecond: 1000 };

/** Starts a server in this process on a free port with a fresh data dir (unless given). */
export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? tempDir();
  const limits = { ...DEFAULT_LIMITS, registrations: TEST_REGISTRATIONS };
  const config = loadConfig({ port: 0, host: '127.0.0.1', logLevel: 'silent', passwordHashKib: 1024, limits, ...overrides, dataDir }, {});
  const server = await startServer(config);
  return {
    server,
    port: server.port,
    dataDir,
    baseUrl: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}/v1/ws`,
    stop: async () => {
      await server.stop();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcess {
  baseUrl: string;
  wsUrl: string;
  port: number;
  proc: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `switchboard serve` as a child process (for crash tests) and waits for /healthz. */
export async function startServerProcess(opts: { dataDir: string; port?: number; env?: Record<string, string> }): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const proc = spawn(process.execPath, [cliEntry, 'serve'], {
    // Embedded unless the test asks for cluster mode, whatever the environment says.
    env: {
      ...process.env,
      REDIS_URL: '',
      DATABASE_URL: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: opts.dataDir,
      LOG_LEVEL: 'warn',
      PASSWORD_HASH_KIB: '1024',
      LIMIT_REGISTRATIONS: `${TEST_REGISTRATIONS.capacity}:${TEST_REGISTRATIONS.perSecond}`,
      ...opts.env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  // Generous: a loaded machine (parallel test files starting several nodes) can take a while to migrate and listen.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server process exited with ${proc.exitCode}`);
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      if (res.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error('server process did not become healthy');
    await sleep(50);
  }
  return {
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    port,
    proc,
    exited,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface HttpResult<T = any> {
  status: number;
  body: T;
}

/** One JSON HTTP call. */
export async function http<T = any>(
  baseUrl: string,
  method: string,
  pathname: string,
  opts: { token?: string; body?: unknown; rawBody?: string } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(baseUrl + pathname, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed as T };
}

export interface TestUser {
  user_id: string;
  username: string;
  token: string;
  device_id: string;
  password: string;
}

let userCounter = 0;
/** Registers a fresh user (unique username) and logs in one device. */
export async function registerUser(baseUrl: string, prefix = 'user'): Promise<TestUser> {
  const username = `${prefix}_${process.pid}_${++userCounter}_${Math.floor(Math.random() * 1e6)}`.slice(0, 32);
  const password = 'correct horse battery';
  const reg = await http(baseUrl, 'POST', '/v1/users', { body: { username, password } });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  const dev = await login(baseUrl, username, password);
  return { ...dev, username, password };
}

/** Logs in another device of an existing user. */
export async function login(baseUrl: string, username: string, password: string, deviceName?: string): Promise<TestUser> {
  const res = await http(baseUrl, 'POST', '/v1/sessions', { body: { username, password, device_name: deviceName } });
  if (res.status !== 201) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { user_id: res.body.user_id, token: res.body.token, device_id: res.body.device_id, username, password };
}

type AnyFrame = ServerFrame & Record<string, any>;

/**
 * A raw WebSocket client that records every frame it receives, so that tests can wait
 * for frames by type or predicate and assert on everything that arrived.
 */
export class TestSocket extends FrameLog<AnyFrame> {
  /** The length of each array message received (a socket opened with ?batch=1). */
  readonly arrays: number[] = [];
  private cursor = 0;
  closeCode: number | null = null;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    super();
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const parsed = JSON.parse(data.toString()) as AnyFrame | AnyFrame[];
      // ?batch=1 (PROTOCOL.md "Batching"): one message may carry an array of frames.
      if (Array.isArray(parsed)) this.arrays.push(parsed.length);
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) this.record(frame);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  /** Connects with the bearer header (or `?access_token=` when query is true) and waits for open. */
  static async connect(wsUrl: string, token: string, opts: { query?: boolean } = {}): Promise<TestSocket> {
    const ws = opts.query
      ? new WebSocket(`${wsUrl}?access_token=${encodeURIComponent(token)}`)
      : new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    const sock = new TestSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return sock;
  }

  /** Connects to `url` as given (a `?ticket=` socket) and waits for open; a refused upgrade rejects with its status. */
  static async connectUrl(url: string): Promise<TestSocket> {
    const ws = new WebSocket(url);
    const sock = new TestSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    return sock;
  }

  /** Connects and waits for sync_complete. */
  static async connectSynced(wsUrl: string, token: string, timeoutMs = 10_000): Promise<TestSocket> {
    const sock = await TestSocket.connect(wsUrl, token);
    await sock.next('sync_complete', timeoutMs);
    return sock;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  // waitFor(pred, timeoutMs, label, from) and indexOf come from FrameLog: they do not
  // move the next()/nextWhere() cursor, so a test can wait for one kind of frame without
  // skipping past frames of another kind.

  /** Waits for the next frame after the last one next()/nextWhere() returned that matches pred, and moves past it. */
  async nextWhere(pred: (f: AnyFrame) => boolean, timeoutMs = 5000, label = 'frame'): Promise<AnyFrame> {
    const f = await this.waitFor(pred, timeoutMs, label, this.cursor);
    this.cursor = this.frames.indexOf(f, this.cursor) + 1;
    return f;
  }

  next(type: ServerFrame['type'], timeoutMs = 5000): Promise<AnyFrame> {
    return this.nextWhere((f) => f.type === type, timeoutMs, type);
  }

  /** Every frame of a type received so far. */
  all(type: ServerFrame['type']): AnyFrame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Sends a message and waits for its ack_sent (or error). */
  async sendMessage(
    chatId: string,
    content: string,
    clientMsgId = `c-${Math.random().toString(36).slice(2)}-${Date.now()}`,
  ): Promise<AnyFrame> {
    this.send({ type: 'send_message', chat_id: chatId, client_msg_id: clientMsgId, content });
    return this.nextWhere(
      (f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === clientMsgId,
      10_000,
      `ack for ${clientMsgId}`,
    );
  }

  close(): Promise<number> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Creates users with one device session each directly through the store (no scrypt,
 * no HTTP), for tests that need hundreds of members. Login over HTTP still works for
 * them with the password 'seeded password'.
 */
export async function seedUsers(target: TestServer | Store, count: number, prefix = 'seed'): Promise<TestUser[]> {
  const { hashPassword, newToken, hashToken } = await import('../core/passwords.js');
  const { Snowflake } = await import('../util/snowflake.js');
  const ids = new Snowflake(1000 + (process.pid % 20));
  const password = 'seeded password';
  const passwordHash = await hashPassword(password, 1024);
  const store = 'server' in target ? target.server.engines.store : target;
  const out: TestUser[] = [];
  const base = `${prefix}${Date.now().toString(36)}`;
  for (let i = 0; i < count; i++) {
    const username = `${base}_${i}`.slice(0, 32);
    const user = await store.createUser({ id: ids.next(), username, displayName: username, passwordHash, createdAt: Date.now() });
    if (user === 'username_taken') throw new Error(`seed collision: ${username}`);
    const token = newToken();
    const deviceId = ids.next();
    await store.createDevice({ id: deviceId, userId: user.id, name: 'seeded', createdAt: Date.now(), tokenHash: hashToken(token) });
    out.push({ user_id: user.id, username, token, device_id: deviceId, password });
  }
  return out;
}

export interface SuiteServer {
  /** The suite's server; its fields can be read once the `before` hook has started it. */
  readonly srv: TestServer;
  /**
   * Resolves once the `before` hook has started the server. Needed only by other top-level
   * (file-level) `before` hooks: node runs those at once, without waiting for earlier ones.
   */
  ready(): Promise<TestServer>;
  /** Connects `u`'s token (tracked, so `after` terminates it) without waiting for anything else. */
  connect(u: TestUser, opts?: { query?: boolean }): Promise<TestSocket>;
  /** Connects `u` (tracked) and waits for sync_complete as the suite's `synced` option says. */
  open(u: TestUser): Promise<TestSocket>;
  /** Registers n fresh users (registerUser with this prefix) in parallel. */
  users(n: number, prefix: string): Promise<TestUser[]>;
  /** Has `after` terminate a socket opened some other way; returns it. */
  track<T extends TestSocket>(s: T): T;
}

/**
 * Registers `before`/`after` hooks (in the enclosing describe, or for the file when called
 * at top level) that start one in-process server with these config overrides and, after
 * the suite, terminate every socket opened through it and stop the server.
 *
 * `synced` is how open() waits for sync_complete: by default `sock.next('sync_complete',
 * 10_000)` (as TestSocket.connectSynced, moving the socket's next() cursor past it); tests
 * that look at recorded frames pass delivery-support's waitForSyncComplete instead.
 */
export function suiteServer(
  overrides: Partial<ServerConfig> = {},
  opts: { synced?: (s: TestSocket) => Promise<unknown> } = {},
): SuiteServer {
  let started: TestServer | undefined;
  let startDone!: (err: unknown) => void;
  const starting = new Promise<void>((resolve, reject) => {
    startDone = (err) => (err === undefined ? resolve() : reject(err));
  });
  starting.catch(() => {}); // a failed start is reported by the before hook itself
  const sockets: TestSocket[] = [];
  const synced = opts.synced ?? ((s: TestSocket) => s.next('sync_complete', 10_000));
  const get = (): TestServer => {
    if (!started) throw new Error('suiteServer: the server is not started yet (use it in tests or hooks)');
    return started;
  };
  const srv: TestServer = {
    get baseUrl() {
      return get().baseUrl;
    },
    get wsUrl() {
      return get().wsUrl;
    },
    get port() {
      return get().port;
    },
    get dataDir() {
      return get().dataDir;
    },
    get server() {
      return get().server;
    },
    stop: () => get().stop(),
  };
  const track = <T extends TestSocket>(s: T): T => {
    sockets.push(s);
    return s;
  };
  const connect = async (u: TestUser, o: { query?: boolean } = {}): Promise<TestSocket> =>
    track(await TestSocket.connect(srv.wsUrl, u.token, o));
  before(async () => {
    try {
      started = await startTestServer(overrides);
      startDone(undefined);
    } catch (err) {
      startDone(err ?? new Error('server did not start'));
      throw err;
    }
  });
  after(async () => {
    for (const s of sockets) s.terminate();
    await started?.stop();
  });
  return {
    srv,
    ready: async () => {
      await starting;
      return get();
    },
    connect,
    open: async (u) => {
      const s = await connect(u);
      await synced(s);
      return s;
    },
    users: (n, prefix) => Promise.all(Array.from({ length: n }, () => registerUser(srv.baseUrl, prefix))),
    track,
  };
}
