import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { startTestServer, cliEntry, tempDir, sleep } from '@switchboard/server/testing';

/* Message lifecycle through the built `switchboard` binary against a real server (PROTOCOL.md "Message lifecycle"). */

const run = promisify(execFile);

function envFor(home: string, server: string): NodeJS.ProcessEnv {
  return { ...process.env, SWITCHBOARD_HOME: home, SWITCHBOARD_SERVER: server, SWITCHBOARD_PASSWORD: '' };
}

async function sb(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliEntry, ...args], { env, timeout: 20_000 });
  return stdout;
}

/** The command's stderr, for one that must fail. */
async function sbFails(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  try {
    await sb(env, ...args);
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? '';
  }
  throw new Error(`switchboard ${args.join(' ')} succeeded`);
}

function listen(env: NodeJS.ProcessEnv): { proc: ChildProcess; waitFor(pattern: RegExp, where?: 'out' | 'err'): Promise<void> } {
  const proc = spawn(process.execPath, [cliEntry, 'listen'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    proc,
    async waitFor(pattern, where = 'out') {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(where === 'out' ? out : err)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stdout: ${out}; stderr: ${err}`);
        await sleep(25);
      }
    },
  };
}

test('reply, mention, edit, react and delete for everyone; listen prints each change', async () => {
  const server = await startTestServer();
  const homes = [tempDir('sb-cli-lc-a-'), tempDir('sb-cli-lc-b-'), tempDir('sb-cli-lc-b2-')];
  const [alice, bob, bob2] = homes.map((h) => envFor(h, server.baseUrl)) as [NodeJS.ProcessEnv, NodeJS.ProcessEnv, NodeJS.ProcessEnv];
  const suffix = String(process.pid).slice(-5);
  const [an, bn] = [`lca_${suffix}`, `lcb_${suffix}`];
  const listeners: ChildProcess[] = [];
  try {
    await sb(alice, 'register', an, '--password', 'alice password');
    await sb(bob, 'register', bn, '--password', 'bob password');
    await sb(alice, 'login', an, '--password', 'alice password');
    await sb(bob, 'login', bn, '--password', 'bob password');
    await sb(bob2, 'login', bn, '--password', 'bob password', '--device-name', 'phone');
    const bobListen = listen(bob2);
    listeners.push(bobListen.proc);
    await bobListen.waitFor(/up to date/, 'err');

    assert.match(await sb(alice, 'send', bn, 'lunch at noon?'), /#1\]/);
    assert.match(await sb(bob, 'send', an, '--reply-to', '#1', '--mention', an, 'yes, where?'), /#2\]/);
    // Bob's other device sees his reply with the quote.
    await bobListen.waitFor(new RegExp(`#2\\] .* me: yes, where\\?\\n {4}↪ in reply to ${an}: "lunch at noon\\?"\\n`));
    const replied = (await sb(alice, 'history', bn, '--json'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(replied[1]!.reply_to, {
      message_id: replied[0]!.message_id,
      sender_id: replied[0]!.sender_id,
      preview: 'lunch at noon?',
    });
    assert.deepEqual(replied[1]!.mentions, [replied[0]!.sender_id]);

    // Only the sender edits; bob's attempt is refused with the server's code.
    assert.match(await sbFails(bob, 'edit', an, '#1', 'hacked'), /edit refused: forbidden/);
    assert.match(await sb(alice, 'edit', bn, '#1', 'lunch at 1pm?'), /edited \S+ \[dm:\S+ #3\]/);
    await bobListen.waitFor(new RegExp(`#3\\] .* ${an} edited #1: lunch at 1pm\\?\\n`));
    assert.match(await sb(bob, 'react', an, `${replied[0]!.message_id as string}`, '👍'), /reacted 👍 to/);
    await bobListen.waitFor(/#4\] .* me reacted 👍 to #1\n/);
    const history = await sb(bob, 'history', an);
    assert.match(history, new RegExp(`#1\\] .* ${an}: lunch at 1pm\\? \\(edited\\)  \\[👍 1\\]\\n`));
    assert.doesNotMatch(history, /#3\]|#4\]/, 'changes are not listed as messages');

    assert.match(await sb(alice, 'delete', bn, '#1'), /deleted \S+ for everyone \[dm:\S+ #5\]/);
    await bobListen.waitFor(new RegExp(`#5\\] .* ${an} deleted #1 for everyone\\n`));
    const after = await sb(alice, 'history', bn);
    assert.match(after, /#1\] .* me: \(this message was deleted\)/);
    assert.match(after, new RegExp(`#2\\] .* ${bn}: yes, where\\?\\n {4}↪ in reply to ${an}: \\(deleted message\\)`));
    assert.doesNotMatch(after, /lunch/, 'nothing of the deleted text is left');
    assert.match(await sbFails(alice, 'edit', bn, '#1', 'too late'), /forbidden/);
    assert.match(await sbFails(alice, 'react', bn, '#9', '👍'), /no message #9/);
  } finally {
    for (const p of listeners) p.kill('SIGTERM');
    await server.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});

test('mute, archive and pin a chat, and undo them; chats --archived; other devices hear of it', async () => {
  const server = await startTestServer();
  const homes = [tempDir('sb-cli-cs-a-'), tempDir('sb-cli-cs-a2-'), tempDir('sb-cli-cs-b-'), tempDir('sb-cli-cs-c-')];
  const [alice, alice2, bob, carol] = homes.map((h) => envFor(h, server.baseUrl)) as NodeJS.ProcessEnv[];
  const suffix = String(process.pid).slice(-5);
  const [an, bn, cn] = [`csa_${suffix}`, `csb_${suffix}`, `csc_${suffix}`];
  const listeners: ChildProcess[] = [];
  try {
    for (const [env, name] of [
      [alice, an],
      [bob, bn],
      [carol, cn],
    ] as const) {
      await sb(env!, 'register', name, '--password', 'some password');
      await sb(env!, 'login', name, '--password', 'some password');
    }
    await sb(alice2!, 'login', an, '--password', 'some password');
    const other = listen(alice2!);
    listeners.push(other.proc);
    await other.waitFor(/up to date/, 'err');
    await sb(bob!, 'send', an, 'from bob');
    await sb(carol!, 'send', an, 'from carol'); // the most recent: first in the list

    let chats = await sb(alice!, 'chats');
    assert.match(chats.split('\n')[0]!, new RegExp(`${cn}`));
    assert.match(await sb(alice!, 'pin', bn), /: pinned\n$/);
    await other.waitFor(/changed on another device: pinned\n/);
    chats = await sb(alice!, 'chats');
    assert.match(chats.split('\n')[0]!, new RegExp(`${bn}.*\\[pinned\\]`), 'a pinned chat comes first');
    assert.match(await sb(alice!, 'mute', bn, '--for', '8h'), /: pinned, muted until \d{4}-/);
    assert.match(await sb(alice!, 'mute', cn), /: muted\n$/);
    assert.match(await sb(alice!, 'archive', cn), /: muted, archived\n$/);
    chats = await sb(alice!, 'chats');
    assert.doesNotMatch(chats, new RegExp(cn));
    assert.match(chats, /\(1 archived: switchboard chats --archived\)/);
    const archived = await sb(alice!, 'chats', '--archived');
    assert.match(archived, new RegExp(`${cn}.*\\[muted, archived\\]`));
    assert.doesNotMatch(archived, new RegExp(bn));
    // Settings are the user's own: bob's list is untouched.
    assert.doesNotMatch(await sb(bob!, 'chats'), /\[/);

    assert.match(await sb(alice!, 'unarchive', cn), /: muted\n$/);
    assert.match(await sb(alice!, 'unmute', cn), /no settings/);
    assert.match(await sb(alice!, 'unpin', bn), /: muted until/);
    assert.match(await sb(alice!, 'unmute', bn), /no settings/);
    await other.waitFor(/changed on another device: unmuted, not archived, not pinned\n/);
    assert.doesNotMatch(await sb(alice!, 'chats'), /\[/);
    assert.match(await sbFails(alice!, 'mute', bn, '--for', 'soon'), /not a duration/);
  } finally {
    for (const p of listeners) p.kill('SIGTERM');
    await server.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});
