import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, startServerProcess, cliEntry, tempDir, sleep, freePort } from '@switchboard/server/testing';

/* The built `switchboard` binary against a real server, as a user would run it. */

const run = promisify(execFile);

function envFor(home: string, server: string): NodeJS.ProcessEnv {
  return { ...process.env, SWITCHBOARD_HOME: home, SWITCHBOARD_SERVER: server, SWITCHBOARD_PASSWORD: '' };
}

async function sb(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliEntry, ...args], { env, timeout: 20_000 });
  return stdout;
}

/** A long-running `switchboard listen`, with its output collected. */
function listen(env: NodeJS.ProcessEnv): {
  proc: ChildProcess;
  exited: Promise<number | null>;
  out: () => string;
  err: () => string;
  waitFor(pattern: RegExp, where?: 'out' | 'err'): Promise<void>;
} {
  const proc = spawn(process.execPath, [cliEntry, 'listen'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    proc,
    exited,
    out: () => out,
    err: () => err,
    async waitFor(pattern, where = 'out') {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(where === 'out' ? out : err)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stdout: ${out}; stderr: ${err}`);
        await sleep(25);
      }
    },
  };
}

test('register, login, send and listen through the built binary', async () => {
  const server = await startTestServer();
  const aliceHome = tempDir('sb-cli-alice-');
  const bobHome = tempDir('sb-cli-bob-');
  const alice = envFor(aliceHome, server.baseUrl);
  const bob = envFor(bobHome, server.baseUrl);
  const suffix = String(process.pid).slice(-5);
  const [an, bn] = [`alice_${suffix}`, `bob_${suffix}`];
  const listeners: ChildProcess[] = [];
  try {
    assert.match(
      await sb(alice, 'register', an, '--display-name', 'Alice', '--password', 'alice password'),
      new RegExp(`registered ${an}`),
    );
    assert.match(await sb(bob, 'register', bn, '--password', 'bob password'), new RegExp(`registered ${bn}`));
    // The password may also come from the environment.
    assert.match(await sb({ ...alice, SWITCHBOARD_PASSWORD: 'alice password' }, 'login', an), /logged in as/);
    assert.match(await sb(bob, 'login', bn, '--password', 'bob password'), /logged in as/);
    const saved = path.join(aliceHome, 'session.json');
    assert.ok(existsSync(saved));
    assert.equal(statSync(saved).mode & 0o077, 0, 'session file is private');
    const session = JSON.parse(readFileSync(saved, 'utf8')) as Record<string, string>;
    for (const k of ['token', 'user_id', 'device_id', 'ws_url', 'server']) assert.equal(typeof session[k], 'string', k);
    assert.match(await sb(alice, 'whoami'), new RegExp(`${an} \\(${session.user_id}\\) "Alice"`));

    const bobListen = listen(bob);
    const aliceListen = listen(alice);
    listeners.push(bobListen.proc, aliceListen.proc);
    await bobListen.waitFor(/up to date/, 'err');
    await aliceListen.waitFor(/up to date/, 'err');

    const sent = await sb(alice, 'send', bn, 'hello', 'bob');
    assert.match(sent, /^✓ sent \[dm:[^\]]+ #1\] \S+\n$/);
    await bobListen.waitFor(new RegExp(`\\] [0-9: -]+ ${an}: hello bob\\n`));
    // Bob's listener acknowledged it: Alice's listener shows the delivered tick.
    await aliceListen.waitFor(new RegExp(`✓✓ delivered by ${bn}`));

    assert.match(await sb(bob, 'send', `@${an}`, 'hi', 'alice'), /#2\]/);
    await aliceListen.waitFor(new RegExp(`${bn}: hi alice`));

    const chats = await sb(bob, 'chats');
    assert.match(chats, /^dm:\S+ /);
    const history = await sb(alice, 'history', bn);
    assert.match(history, /#1\] .* me: hello bob {2}✓✓/);
    assert.match(history, new RegExp(`#2\\] .* ${bn}: hi alice`));

    // Sessions: a second device of Alice's is listed, then revoked from this one.
    const otherHome = tempDir('sb-cli-alice2-');
    try {
      const other = envFor(otherHome, server.baseUrl);
      assert.match(await sb(other, 'login', an, '--password', 'alice password', '--device-name', 'tablet'), /logged in as/);
      const otherId = (JSON.parse(readFileSync(path.join(otherHome, 'session.json'), 'utf8')) as Record<string, string>).device_id!;
      const listed = await sb(alice, 'devices');
      assert.match(listed, new RegExp(`^\\* ${session.device_id} `, 'm'), 'this device is marked');
      assert.match(listed, new RegExp(`^  ${otherId}  tablet `, 'm'));
      assert.match(await sb(alice, 'devices', 'revoke', otherId), new RegExp(`revoked ${otherId}`));
      await assert.rejects(sb(other, 'whoami'), /revoked/);
      assert.doesNotMatch(await sb(alice, 'devices'), new RegExp(otherId));
    } finally {
      rmSync(otherHome, { recursive: true, force: true });
    }

    assert.match(await sb(alice, 'logout'), /logged out/);
    assert.ok(!existsSync(saved));
    await assert.rejects(sb(alice, 'chats'), /not logged in/);
    // Alice's listener used the revoked session: it stops by itself.
    const code = await Promise.race([aliceListen.exited, sleep(10_000).then(() => 'still running')]);
    assert.equal(code, 1);
    assert.match(aliceListen.err(), /disconnected for good/);
  } finally {
    for (const p of listeners) p.kill('SIGTERM');
    await server.stop();
    rmSync(aliceHome, { recursive: true, force: true });
    rmSync(bobHome, { recursive: true, force: true });
  }
});

test('group create and send to the group chat', async () => {
  const server = await startTestServer();
  const homes = [tempDir('sb-cli-g1-'), tempDir('sb-cli-g2-')];
  const [e1, e2] = homes.map((h) => envFor(h, server.baseUrl)) as [NodeJS.ProcessEnv, NodeJS.ProcessEnv];
  const suffix = String(process.pid).slice(-5);
  const names = [`gw_${suffix}`, `gx_${suffix}`];
  try {
    for (const [i, env] of [e1, e2].entries()) {
      await sb(env, 'register', names[i]!, '--password', 'group password');
      await sb(env, 'login', names[i]!, '--password', 'group password');
    }
    const created = await sb(e1, 'group', 'create', 'trip', names[1]!);
    const chatId = /chat (g:\S+)/.exec(created)?.[1];
    assert.ok(chatId, created);
    assert.match(created, new RegExp(`${names[0]} \\(admin\\)`));
    assert.match(await sb(e1, 'send', chatId, 'pack light'), /#1\]/);
    assert.match(await sb(e2, 'history', chatId), new RegExp(`${names[0]}: pack light`));
  } finally {
    await server.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});

test('serve starts from flags and exits 0 on SIGTERM', async () => {
  const dataDir = tempDir('sb-cli-serve-');
  try {
    const proc = await startServerProcess({ dataDir });
    const res = await fetch(`${proc.baseUrl}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await proc.kill('SIGTERM'), 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('under npm start, the server stops when npm is killed outright (SIGKILL) instead of living on as an orphan', async () => {
  const dataDir = tempDir('sb-cli-orphan-');
  const port = await freePort();
  // A stand-in for npm: a parent that runs the start script's command through sh (which
  // execs node) with npm's lifecycle variable, and prints the server's pid.
  const parentCode = `
    const { spawn } = require('node:child_process');
    const child = spawn('sh', ['-c', 'exec "$0" "$1" serve', process.execPath, ${JSON.stringify(cliEntry)}], { stdio: 'inherit' });
    console.log(child.pid);
    setInterval(() => {}, 1e9);
  `;
  const parent = spawn(process.execPath, ['-e', parentCode], {
    env: {
      ...process.env,
      npm_lifecycle_event: 'start',
      REDIS_URL: '',
      DATABASE_URL: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      PASSWORD_HASH_KIB: '1024',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let serverPid = 0;
  try {
    serverPid = await new Promise<number>((resolve, reject) => {
      parent.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      parent.once('exit', () => reject(new Error('parent exited early')));
    });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < deadline, 'server did not become healthy');
      await sleep(100);
    }
    parent.kill('SIGKILL');
    const gone = Date.now() + 10_000;
    while (alive(serverPid) && Date.now() < gone) await sleep(100);
    assert.equal(alive(serverPid), false, 'the orphaned server stopped');
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'the port is free again');
  } finally {
    parent.kill('SIGKILL');
    if (serverPid) {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('unknown commands and missing sessions fail with a message', async () => {
  const home = tempDir('sb-cli-none-');
  try {
    const env = envFor(home, 'http://127.0.0.1:9');
    await assert.rejects(
      sb(env, 'frobnicate'),
      (err: { code?: number; stderr?: string }) => err.code === 1 && /unknown command/.test(err.stderr ?? ''),
    );
    await assert.rejects(sb(env, 'send', 'bob', 'hi'), (err: { stderr?: string }) => /not logged in/.test(err.stderr ?? ''));
    await assert.rejects(sb(env, 'login', 'bob', '--password', 'whatever1'), (err: { stderr?: string }) =>
      /cannot reach the server/.test(err.stderr ?? ''),
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
