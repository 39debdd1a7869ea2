import WebSocket from 'ws';
import { directChatId, type SessionView } from '@switchboard/protocol';
import { E2ee, MemoryStorage, SwitchboardClient, type FetchLike, type NewMessageEvent } from '@switchboard/client';
import { createUsers, runTag, type Session } from './api.js';
import { readCpuMs, spawnServer, type SpawnOptions } from './server.js';
import { fmtBytes, fmtInt, fmtMs, mapLimit, sleep, summarize, table, type Summary } from './stats.js';

/*
 * `e2ee`: what MLS costs (docs/e2ee.md), through the SDK's E2ee over real sockets and HTTP.
 *
 * Groups: for each size N a fresh server, N users with one SDK device each (key packages
 * uploaded), the creator's createEncryptedGroup of all N, a sample of members joining by the
 * Welcome, then the steady state: one member removed, one added. Sizes are read from the
 * bodies the SDK posts (the bench hands it a fetch that records them); the time to build a
 * commit is the creator's gap between its last answer before the commit (claim or chat
 * state) and the commit's POST, in which it does nothing but build it; a join is the gap
 * between the chat state answer and the welcome's DELETE, in which it processes the Welcome.
 *
 * Latency: K pairs in an encrypted direct chat beside K other pairs in a plaintext one,
 * open loop, send -> text in the receiving SDK; then one encrypted pair sending one message
 * at a time, for the CPU of one encrypt and one decrypt with nothing else running.
 */

export interface E2eeBenchOptions {
  sizes: number[];
  /** Members (besides the creator) that join by the Welcome; null: all up to 100, else 3. */
  joiners: number | null;
  rate: number;
  seconds: number;
  contentBytes: number;
  /** 0: no 1:1 latency part. */
  pairs: number;
  /** Messages of the one-at-a-time CPU measurement. */
  quietMessages: number;
}

const cpuNowMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface WireCall {
  method: string;
  path: string;
  status: number;
  start: number;
  end: number;
  cpuStart: number;
  cpuEnd: number;
  /** Server process CPU (ms) around the call, for commits only. */
  serverCpuMs?: number;
  responseChars: number;
  /** What a commit POST carried (base64 characters and decoded bytes). */
  commit?: CommitSizes;
}

export interface CommitSizes {
  commit: { b64: number; bytes: number };
  groupInfo: { b64: number; bytes: number };
  welcome: { b64: number; bytes: number } | null;
  welcomeDevices: number;
  bodyChars: number;
}

/** Index of the last element matching (ES2022 has no findLastIndex), or -1. */
function lastIndex<T>(arr: T[], match: (x: T) => boolean): number {
  for (let i = arr.length - 1; i >= 0; i--) if (match(arr[i]!)) return i;
  return -1;
}

const sized = (b64: string) => ({ b64: b64.length, bytes: Buffer.from(b64, 'base64').length });

/** A fetch for one SDK device that notes every call: timing, this process's CPU, and what a commit carries. */
class WireLog {
  readonly calls: WireCall[] = [];
  constructor(private readonly serverPid: number | null) {}
  readonly fetch: FetchLike = async (input, init) => {
    const method = init?.method ?? 'GET';
    const path = new URL(input).pathname;
    const isCommit = method === 'POST' && path.endsWith('/mls/commits');
    const server0 = isCommit ? readCpuMs(this.serverPid) : 0;
    const cpuStart = cpuNowMs();
    const start = performance.now();
    const res = await fetch(input, init);
    // The body is read here, so `end` is when the whole answer arrived.
    const text = await res.text();
    const end = performance.now();
    const call: WireCall = { method, path, status: res.status, start, end, cpuStart, cpuEnd: cpuNowMs(), responseChars: text.length };
    if (isCommit) {
      call.serverCpuMs = readCpuMs(this.serverPid) - server0;
      const body = JSON.parse(init?.body ?? '{}') as {
        commit: string;
        group_info: string;
        welcomes?: { device_ids: string[]; welcome: string }[];
      };
      const w = body.welcomes?.[0];
      call.commit = {
        commit: sized(body.commit),
        groupInfo: sized(body.group_info),
        welcome: w ? sized(w.welcome) : null,
        welcomeDevices: w?.device_ids.length ?? 0,
        bodyChars: init?.body?.length ?? 0,
      };
    }
    this.calls.push(call);
    return { status: res.status, ok: res.ok, text: async () => text };
  };

  /** The latest accepted commit and the client work just before it: from the previous answer to the POST. */
  lastCommit(): CommitRow {
    const i = lastIndex(this.calls, (c) => c.commit !== undefined && c.status === 201);
    if (i < 1) throw new Error('no accepted commit recorded');
    const c = this.calls[i]!;
    const prev = this.calls[i - 1]!;
    return {
      sizes: c.commit!,
      buildMs: c.start - prev.end,
      buildCpuMs: c.cpuStart - prev.cpuEnd,
      acceptMs: c.end - c.start,
      serverCpuMs: c.serverCpuMs ?? NaN,
    };
  }

  /** The latest join: from the chat state answer to the welcome's DELETE (the SDK processes the Welcome in between). */
  lastJoin(): { ms: number; cpuMs: number; welcomeChars: number } {
    const del = lastIndex(this.calls, (c) => c.method === 'DELETE' && c.path.startsWith('/v1/mls/welcomes/'));
    if (del < 1) throw new Error('no welcome acknowledged');
    const state = this.calls[del - 1]!;
    if (!state.path.endsWith('/mls')) throw new Error(`unexpected call before the welcome's DELETE: ${state.method} ${state.path}`);
    const get = this.calls[lastIndex(this.calls.slice(0, del), (c) => c.path === '/v1/mls/welcomes')];
    const d = this.calls[del]!;
    return { ms: d.start - state.end, cpuMs: d.cpuStart - state.cpuEnd, welcomeChars: get?.responseChars ?? NaN };
  }
}

export interface CommitRow {
  sizes: CommitSizes;
  /** Creator: from the answer before the commit to its POST (claimed packages checked, commit, GroupInfo and Welcome built). */
  buildMs: number;
  buildCpuMs: number;
  /** POST .../mls/commits until its 201 arrived. */
  acceptMs: number;
  serverCpuMs: number;
}

interface Device {
  session: Session;
  client: SwitchboardClient;
  e2ee: E2ee | null;
  wire: WireLog;
  socket: TrackedSocket;
}

/** Notes when each send_message frame leaves this device's socket (the end of an SDK encrypt). */
interface TrackedSocket {
  onSendMessage: (() => void) | null;
}

function trackedWebSocket(track: TrackedSocket) {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
    }
    override send(data: string): void {
      if (track.onSendMessage && data.startsWith('{"type":"send_message"')) track.onSendMessage();
      super.send(data);
    }
  };
}

async function openDevice(baseUrl: string, s: Session, serverPid: number | null, keyPackages: number | null): Promise<Device> {
  const wire = new WireLog(serverPid);
  const socket: TrackedSocket = { onSendMessage: null };
  const client = SwitchboardClient.fromSession(baseUrl, s as SessionView, {
    fetch: wire.fetch,
    WebSocket: trackedWebSocket(socket),
  });
  let e2ee: E2ee | null = null;
  if (keyPackages !== null) {
    e2ee = await E2ee.open(client, { storage: new MemoryStorage(), keyPackageTarget: keyPackages });
    await e2ee.topUpKeyPackages();
  }
  return { session: s, client, e2ee, wire, socket };
}

async function closeAll(devices: Device[]): Promise<void> {
  for (const d of devices) {
    d.e2ee?.close();
    await d.client.close();
  }
}

/* ---------------- groups ---------------- */

export interface GroupSizeRow {
  size: number;
  setup: { registerSeconds: number; openSeconds: number };
  /** createEncryptedGroup as the caller sees it: server group, claims, commit, POST. */
  createMs: number;
  create: CommitRow;
  joins: { sampled: number; of: number; ms: Summary; cpuMs: Summary; welcomeChars: number };
  remove: CommitRow;
  add: CommitRow;
  addJoin: { ms: number; cpuMs: number };
  /** A member that joined at creation catching up on the remove and add commits (mls_commit frame -> processed). */
  memberProcess: { removeMs: number; addMs: number } | null;
}

function joinSample(others: number, asked: number | null): number[] {
  const k = Math.min(others, asked ?? (others <= 100 ? others : 3));
  if (k >= others) return Array.from({ length: others }, (_, i) => i);
  // Spread over the tree: the first, the last and evenly between.
  if (k <= 1) return [0];
  return [...new Set(Array.from({ length: k }, (_, i) => Math.round((i * (others - 1)) / (k - 1))))];
}

async function runGroupSize(size: number, opts: E2eeBenchOptions, spawn: SpawnOptions, log: (s: string) => void): Promise<GroupSizeRow> {
  const target = await spawnServer(spawn);
  log(`e2ee: group of ${size}: server ${target.describe}`);
  const devices: Device[] = [];
  try {
    const t0 = performance.now();
    // The creator, size-1 members, and one more user to add in the steady state.
    const sessions = (await createUsers(target.baseUrl, { prefix: `e2${runTag()}`, count: size + 1, concurrency: 8 })).map((s) => s[0]!);
    const registerSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    // One one-use key package per device (and the last-resort one): all a single group needs.
    devices.push(...(await mapLimit(sessions, 4, (s) => openDevice(target.baseUrl, s, target.pid, 1))));
    const openSeconds = (performance.now() - t1) / 1000;
    log(
      `e2ee: ${size + 1} users registered in ${registerSeconds.toFixed(1)} s, SDK devices opened with key packages in ${openSeconds.toFixed(1)} s`,
    );
    const [creator, ...rest] = devices;
    const members = rest.slice(0, size - 1);
    const newcomer = rest[size - 1]!;

    const c0 = performance.now();
    const group = await creator!.e2ee!.createEncryptedGroup(
      `e2ee bench ${size}`,
      members.map((d) => d.session.user_id),
    );
    const createMs = performance.now() - c0;
    const chatId = group.chat_id;
    const create = creator!.wire.lastCommit();
    log(
      `e2ee: group of ${size} created in ${fmtMs(createMs)} ms (commit built in ${fmtMs(create.buildMs)} ms, accepted in ${fmtMs(create.acceptMs)} ms)`,
    );

    // Members join one at a time, so each Welcome is processed alone on this thread.
    const sample = joinSample(members.length, opts.joiners);
    const joinMs: number[] = [];
    const joinCpu: number[] = [];
    let welcomeChars = NaN;
    for (const i of sample) {
      const d = members[i]!;
      await d.e2ee!.fetchWelcomes();
      if (!d.e2ee!.hasGroup(chatId)) throw new Error(`member ${i} did not join by the welcome`);
      const j = d.wire.lastJoin();
      joinMs.push(j.ms);
      joinCpu.push(j.cpuMs);
      welcomeChars = j.welcomeChars;
    }
    log(`e2ee: ${sample.length} of ${members.length} members joined by the Welcome, p50 ${fmtMs(summarize(joinMs).p50)} ms`);

    // Steady state: remove the last member (not one that joined, unless all did), then add the extra user.
    const victim = members[members.length - 1]!;
    await creator!.e2ee!.removeMember(chatId, victim.session.user_id);
    const remove = creator!.wire.lastCommit();
    await creator!.e2ee!.addMembers(chatId, [newcomer.session.user_id]);
    const add = creator!.wire.lastCommit();
    await newcomer.e2ee!.fetchWelcomes();
    if (!newcomer.e2ee!.hasGroup(chatId)) throw new Error('the added user did not join by the welcome');
    const addJoin = newcomer.wire.lastJoin();

    // A member that joined at creation catches up on both commits when its socket connects (replay).
    let memberProcess: GroupSizeRow['memberProcess'] = null;
    const observer = members[sample[0]!];
    if (observer && observer !== victim) {
      const arrived = new Map<number, number>();
      const processed = new Map<number, number>();
      let lastDone = 0;
      observer.client.on('mls_commit', (c) => arrived.set(c.epoch, performance.now()));
      observer.e2ee!.on('epoch', (e) => {
        if (e.chat_id !== chatId) return;
        const now = performance.now();
        // Commits are processed one after another: each starts when it came or when the previous one was done.
        const started = Math.max(arrived.get(e.epoch - 1) ?? now, lastDone);
        processed.set(e.epoch, now - started);
        lastDone = now;
      });
      const target3 = creator!.e2ee!.epoch(chatId);
      await observer.client.connect();
      const deadline = Date.now() + 600_000;
      while (observer.e2ee!.epoch(chatId) < target3) {
        if (Date.now() > deadline) throw new Error('the observing member did not catch up');
        await sleep(20);
      }
      memberProcess = { removeMs: processed.get(target3 - 1) ?? NaN, addMs: processed.get(target3) ?? NaN };
    }
    return {
      size,
      setup: { registerSeconds, openSeconds },
      createMs,
      create,
      joins: { sampled: sample.length, of: members.length, ms: summarize(joinMs), cpuMs: summarize(joinCpu), welcomeChars },
      remove,
      add,
      addJoin: { ms: addJoin.ms, cpuMs: addJoin.cpuMs },
      memberProcess,
    };
  } finally {
    await closeAll(devices);
    await target.stop();
  }
}

/* ---------------- 1:1 latency ---------------- */

export interface LatencyRow {
  kind: 'plaintext' | 'encrypted';
  sent: number;
  received: number;
  seconds: number;
  latency: Summary;
  /** This process's CPU (both ends of every chat) per message, from the first send to the last receipt. */
  clientCpuUsPerMessage: number;
  /** The slowest messages: when they were scheduled (s after the phase's start) and their latency. */
  worst: { atSeconds: number; ms: number }[];
  /** Encrypted only: e2ee.send called -> send_message frame on the socket (wall). */
  encryptMs: Summary | null;
  /** Encrypted only: ciphertext frame at the receiving client -> decrypted text (wall). */
  decryptMs: Summary | null;
}

export interface QuietCpu {
  messages: number;
  encryptCpuMs: Summary;
  decryptCpuMs: Summary;
  encryptMs: Summary;
  decryptMs: Summary;
  ciphertextChars: number;
}

interface Chat {
  chatId: string;
  from: Device;
  to: Device;
}

async function runLatency(
  opts: E2eeBenchOptions,
  spawn: SpawnOptions,
  log: (s: string) => void,
): Promise<{ rows: LatencyRow[]; quiet: QuietCpu }> {
  const target = await spawnServer(spawn);
  log(`e2ee: 1:1 latency: server ${target.describe}`);
  const devices: Device[] = [];
  try {
    const K = opts.pairs;
    const sessions = (await createUsers(target.baseUrl, { prefix: `e2l${runTag()}`, count: 4 * K, concurrency: 8 })).map((s) => s[0]!);
    // Users 0..2K-1: encrypted pairs (2j, 2j+1); 2K..4K-1: plaintext pairs.
    devices.push(...(await mapLimit(sessions, 4, (s, i) => openDevice(target.baseUrl, s, target.pid, i < 2 * K ? 2 : null))));
    for (const d of devices) {
      const synced = d.client.waitFor('sync_complete', { timeoutMs: 30_000 });
      await d.client.connect();
      await synced;
    }
    const encChats: Chat[] = [];
    const plainChats: Chat[] = [];
    for (let j = 0; j < K; j++) {
      const [a, b, c, d] = [devices[2 * j]!, devices[2 * j + 1]!, devices[2 * K + 2 * j]!, devices[2 * K + 2 * j + 1]!];
      const enc = directChatId(a.session.user_id, b.session.user_id);
      encChats.push({ chatId: enc, from: a, to: b }, { chatId: enc, from: b, to: a });
      const plain = directChatId(c.session.user_id, d.session.user_id);
      plainChats.push({ chatId: plain, from: c, to: d }, { chatId: plain, from: d, to: c });
    }
    for (let j = 0; j < K; j++) {
      const a = devices[2 * j]!;
      const b = devices[2 * j + 1]!;
      const joined = b.e2ee!.hasGroup(encChats[2 * j]!.chatId) ? null : b.e2ee!.waitFor('joined', { timeoutMs: 30_000 });
      await a.e2ee!.startDirect(b.session.user_id);
      await joined;
    }
    log(`e2ee: ${K} encrypted and ${K} plaintext direct chats ready`);

    // Where each receipt goes: message index -> time received; set per phase.
    let onText: (text: string, at: number) => void = () => {};
    let onArrive: (m: NewMessageEvent) => void = () => {};
    let onDecrypted: (messageId: string, at: number) => void = () => {};
    for (const d of devices) {
      d.client.on('message', (m) => {
        if (m.sender_id === d.session.user_id) return;
        if (m.ciphertext !== undefined) onArrive(m);
        else onText(m.content, performance.now());
      });
      d.e2ee?.on('message', (m) => {
        const at = performance.now();
        onDecrypted(m.message_id, at);
        if (m.sender_id !== d.session.user_id) onText(m.text, at);
      });
    }
    const send = (c: Chat, text: string) => (c.from.e2ee ? c.from.e2ee.send(c.chatId, text) : c.from.client.send(c.chatId, text));
    const pad = 'x'.repeat(opts.contentBytes);

    // Warm-up: one message each way in every chat, awaited.
    for (const chats of [plainChats, encChats]) {
      let got = 0;
      onText = () => got++;
      await Promise.all(chats.map((c) => send(c, `w|${pad}`)));
      const deadline = Date.now() + 30_000;
      while (got < chats.length && Date.now() < deadline) await sleep(10);
    }

    const rows: LatencyRow[] = [];
    for (const kind of ['plaintext', 'encrypted'] as const) {
      const chats = kind === 'plaintext' ? plainChats : encChats;
      const total = Math.max(1, Math.round(opts.rate * opts.seconds));
      const scheduled = new Float64Array(total);
      const received = new Float64Array(total).fill(NaN);
      const encMs: number[] = [];
      const arriveAt = new Map<string, number>();
      const decMs: number[] = [];
      let got = 0;
      onText = (text, at) => {
        const bar = text.indexOf('|');
        const i = Number(text.slice(0, bar));
        if (Number.isInteger(i) && i >= 0 && i < total && Number.isNaN(received[i]!)) {
          received[i] = at - scheduled[i]!;
          got++;
        }
      };
      onArrive = (m) => arriveAt.set(m.message_id, performance.now());
      onDecrypted = (id, at) => {
        const a = arriveAt.get(id);
        if (a !== undefined) {
          decMs.push(at - a);
          arriveAt.delete(id);
        }
      };
      // Per sending device, the e2ee.send calls waiting for their frame to leave (frames leave in call order).
      const waiting = new Map<Device, number[]>();
      if (kind === 'encrypted')
        for (const c of chats) {
          const q: number[] = [];
          waiting.set(c.from, q);
          c.from.socket.onSendMessage = () => {
            const s = q.shift();
            if (s !== undefined) encMs.push(performance.now() - s);
          };
        }
      let errors = 0;
      const start = performance.now() + 50;
      const cpu0 = cpuNowMs();
      for (let i = 0; i < total; i++) {
        const at = start + (i * 1000) / opts.rate;
        scheduled[i] = at;
        const wait = at - performance.now();
        if (wait > 1) await sleep(wait);
        const c = chats[i % chats.length]!;
        if (kind === 'encrypted') {
          const now = performance.now();
          waiting.get(c.from)!.push(now);
        }
        send(c, `${i}|${pad}`).catch(() => errors++);
      }
      const sentEnd = performance.now();
      const deadline = Date.now() + 30_000;
      while (got < total && Date.now() < deadline) await sleep(5);
      const cpuMs = cpuNowMs() - cpu0;
      for (const c of chats) c.from.socket.onSendMessage = null;
      if (errors) log(`e2ee: ${kind}: ${errors} sends failed`);
      const lat = Array.from(received).filter((x) => !Number.isNaN(x));
      const worst = Array.from(received, (ms, i) => ({ atSeconds: (scheduled[i]! - start) / 1000, ms }))
        .filter((w) => !Number.isNaN(w.ms))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 5);
      rows.push({
        kind,
        sent: total,
        received: got,
        seconds: (sentEnd - start) / 1000,
        latency: summarize(lat),
        clientCpuUsPerMessage: (cpuMs * 1000) / Math.max(1, got),
        worst,
        encryptMs: kind === 'encrypted' ? summarize(encMs) : null,
        decryptMs: kind === 'encrypted' ? summarize(decMs) : null,
      });
      log(`e2ee: ${kind}: ${fmtInt(got)} of ${fmtInt(total)} received, p99 ${fmtMs(summarize(lat).p99)} ms`);
      await sleep(500);
    }

    // One message at a time in one encrypted chat, both ways in turn: CPU of one encrypt and one decrypt alone.
    const encCpu: number[] = [];
    const encWall: number[] = [];
    const decCpu: number[] = [];
    const decWall: number[] = [];
    let ciphertextChars = 0;
    let arrive: { cpu: number; at: number; id: string } | null = null;
    let done: (() => void) | null = null;
    onText = () => {};
    onArrive = (m) => {
      arrive = { cpu: cpuNowMs(), at: performance.now(), id: m.message_id };
      ciphertextChars = m.ciphertext!.length;
    };
    onDecrypted = (id, at) => {
      const cpu = cpuNowMs();
      if (arrive && arrive.id === id) {
        decCpu.push(cpu - arrive.cpu);
        decWall.push(at - arrive.at);
      }
      done?.();
    };
    for (let i = 0; i < opts.quietMessages; i++) {
      const c = encChats[i % 2]!;
      let sentCpu = 0;
      let sentAt = 0;
      c.from.socket.onSendMessage = () => {
        sentCpu = cpuNowMs();
        sentAt = performance.now();
      };
      const decrypted = new Promise<void>((r) => (done = r));
      const cpu0 = cpuNowMs();
      const t0 = performance.now();
      await c.from.e2ee!.send(c.chatId, `${i}|${pad}`);
      encCpu.push(sentCpu - cpu0);
      encWall.push(sentAt - t0);
      await decrypted;
      c.from.socket.onSendMessage = null;
      // Let the acks and receipts of this message go by before the next one.
      await sleep(5);
    }
    return {
      rows,
      quiet: {
        messages: opts.quietMessages,
        encryptCpuMs: summarize(encCpu),
        decryptCpuMs: summarize(decCpu),
        encryptMs: summarize(encWall),
        decryptMs: summarize(decWall),
        ciphertextChars,
      },
    };
  } finally {
    await closeAll(devices);
    await target.stop();
  }
}

/* ---------------- the scenario ---------------- */

export interface E2eeReport {
  scenario: 'e2ee';
  options: E2eeBenchOptions;
  groups: GroupSizeRow[];
  latency: LatencyRow[];
  /** Null with --pairs 0 (no 1:1 part). */
  quiet: QuietCpu | null;
}

export async function runE2eeBench(opts: E2eeBenchOptions, spawn: SpawnOptions, log: (s: string) => void): Promise<E2eeReport> {
  const groups: GroupSizeRow[] = [];
  for (const size of opts.sizes) groups.push(await runGroupSize(size, opts, spawn, log));
  if (opts.pairs === 0) return { scenario: 'e2ee', options: opts, groups, latency: [], quiet: null };
  const { rows, quiet } = await runLatency(opts, spawn, log);
  return { scenario: 'e2ee', options: opts, groups, latency: rows, quiet };
}

const sz = (s: { b64: number; bytes: number } | null) => (s ? `${fmtBytes(s.bytes)} (${fmtBytes(s.b64)})` : '-');

export function printE2ee(r: E2eeReport, log: (s: string) => void): void {
  log('');
  log('e2ee: MLS commits (sizes: decoded bytes, in parentheses the base64 the SDK posts; times in ms, wall clock unless "CPU")');
  const rows = [
    ['group', 'op', 'commit', 'Welcome', 'GroupInfo', 'build', 'build CPU', 'accept', 'srv CPU', 'join p50', 'join max', 'joined'],
  ];
  for (const g of r.groups) {
    const line = (what: string, c: CommitRow, join: string[]) => [
      String(g.size),
      what,
      sz(c.sizes.commit),
      sz(c.sizes.welcome),
      sz(c.sizes.groupInfo),
      fmtMs(c.buildMs),
      fmtMs(c.buildCpuMs),
      fmtMs(c.acceptMs),
      fmtMs(c.serverCpuMs),
      ...join,
    ];
    rows.push(line('create', g.create, [fmtMs(g.joins.ms.p50), fmtMs(g.joins.ms.max), `${g.joins.sampled} of ${g.joins.of}`]));
    rows.push(line('remove 1', g.remove, ['-', '-', '-']));
    rows.push(line('add 1', g.add, [fmtMs(g.addJoin.ms), fmtMs(g.addJoin.ms), '1 of 1']));
  }
  log(table(rows));
  log(
    '(create: the creator adds N-1 devices; remove 1 / add 1: then one member removed, one user added. "build": the creator from the answer before the commit to its POST, ' +
      'CPU = this process\'s CPU then; "accept": POST .../mls/commits until 201; "srv CPU": the server\'s CPU meanwhile (10 ms ticks); ' +
      '"join": a member from the chat state answer to the Welcome\'s DELETE (processing it), members joined one at a time)',
  );
  for (const g of r.groups) {
    log(
      `group of ${g.size}: ${g.setup.registerSeconds.toFixed(1)} s to register ${g.size + 1} users, ${g.setup.openSeconds.toFixed(1)} s to open their SDK devices with key packages`,
    );
    if (g.joins.sampled < g.joins.of)
      log(
        `group of ${g.size}: only ${g.joins.sampled} of the ${g.joins.of} members joined by the Welcome (a sample, spread over the tree)`,
      );
    if (g.memberProcess)
      log(
        `group of ${g.size}: a member processing the remove commit ${fmtMs(g.memberProcess.removeMs)} ms, the add commit ${fmtMs(g.memberProcess.addMs)} ms; ` +
          `createEncryptedGroup ${fmtMs(g.createMs)} ms in all (server group, claims, commit)`,
      );
  }
  const q = r.quiet;
  if (!q) return;
  log('');
  const o = r.options;
  log(
    `e2ee: direct chats, ${o.pairs} encrypted pairs beside ${o.pairs} plaintext pairs, ${fmtInt(o.rate)} msg/s for ${o.seconds} s each (plaintext first), ${o.contentBytes}-byte text; ` +
      'latency = scheduled send -> text in the receiving SDK (decrypted for encrypted); both ends of every chat in this process',
  );
  const lrows = [['chat', 'sent', 'received', 'p50', 'p99', 'max', 'client CPU/msg', 'encrypt p50', 'decrypt p50']];
  for (const l of r.latency)
    lrows.push([
      l.kind,
      fmtInt(l.sent),
      fmtInt(l.received),
      fmtMs(l.latency.p50),
      fmtMs(l.latency.p99),
      fmtMs(l.latency.max),
      `${fmtInt(l.clientCpuUsPerMessage)} µs`,
      l.encryptMs ? fmtMs(l.encryptMs.p50) : '-',
      l.decryptMs ? fmtMs(l.decryptMs.p50) : '-',
    ]);
  log(table(lrows));
  for (const l of r.latency)
    log(`${l.kind}: slowest ${l.worst.map((w) => `${fmtMs(w.ms)} ms at ${w.atSeconds.toFixed(2)} s`).join(', ')} (s after the first send)`);
  log(
    `e2ee: one message at a time (${q.messages}): encrypt ${fmtMs(q.encryptCpuMs.p50)} ms CPU p50 (p99 ${fmtMs(q.encryptCpuMs.p99)}), ` +
      `decrypt ${fmtMs(q.decryptCpuMs.p50)} ms CPU p50 (p99 ${fmtMs(q.decryptCpuMs.p99)}); wall ${fmtMs(q.encryptMs.p50)} / ${fmtMs(q.decryptMs.p50)} ms; ` +
      `ciphertext of a ${o.contentBytes}-byte text: ${fmtInt(q.ciphertextChars)} base64 characters`,
  );
}
