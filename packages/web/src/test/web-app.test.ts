import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { http, startTestServer, TestSocket, type TestServer } from '@switchboard/server/testing';
import { eventually, launch, login, messages, newPage, register, send, skipReason, startChat, watchPage, webDist } from './support.js';

/*
 * The web client end to end: a real server serving the built app, real headless Chromium,
 * people's steps by role and label. Users get plain names: each run has a fresh server.
 */

const skip = skipReason();
if (skip) console.log(`web client browser tests skipped: ${skip}`);
// Each test skips (and is counted as skipped) rather than the suite vanishing.
const opts = { skip: skip ?? false };

/** A raw GET (no URL normalisation, unlike fetch), for the traversal checks. */
function rawGet(port: number, rawPath: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web client', () => {
  let srv: TestServer;
  let browser: Browser;

  before(async () => {
    if (skip) return;
    // Limits off: one test seeds a 10,000-message chat from a single device, far faster than a person.
    srv = await startTestServer({ rateLimits: false });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test('the server serves the app: caching, content types, SPA fallback, no traversal, ≤100 KB of JS gzipped', opts, async () => {
    const index = await rawGet(srv.port, '/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    const scripts = [...index.body.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1]!);
    const preloads = [...index.body.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0, 'index.html loads a script');
    let gzipped = 0;
    for (const src of [...scripts, ...preloads]) {
      const res = await rawGet(srv.port, src);
      assert.equal(res.status, 200, src);
      assert.match(String(res.headers['content-type']), /^text\/javascript/);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      gzipped += gzipSync(readFileSync(path.join(webDist, src))).length;
    }
    console.log(`JavaScript of the first page: ${(gzipped / 1024).toFixed(1)} KB gzipped`);
    assert.ok(gzipped <= 100 * 1024, `first-page JS is ${gzipped} bytes gzipped`);

    const deep = await rawGet(srv.port, '/chat/dm%3Aa%3Ab?seq=3');
    assert.equal(deep.status, 200);
    assert.equal(deep.body, index.body, 'a client-side route answers index.html');
    for (const p of [
      '/../../../package.json',
      '/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/assets/..%2f..%2f..%2f..%2fpackage.json',
      '/..%5c..%5cpackage.json',
    ]) {
      const res = await rawGet(srv.port, p);
      assert.ok(!res.body.includes('"workspaces"'), `${p} must not leave the web root`);
    }
    assert.equal((await rawGet(srv.port, '/assets/missing-123.js')).status, 404);
    const api = await http(srv.baseUrl, 'GET', '/v1/nothing');
    assert.equal(api.status, 404);
    assert.equal(api.body.error, 'not_found');
    assert.equal((await http(srv.baseUrl, 'GET', '/healthz')).body.status, 'ok');
  });

  test('bad input and failures show a message: taken username, wrong password, server unreachable', opts, async () => {
    const { ctx, page } = await newPage(browser, srv.baseUrl);
    try {
      await register(page, 'dora');
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('Username').fill('dora');
      await page.getByLabel('Password').fill('another password');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('alert').filter({ hasText: 'taken' }).waitFor();
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
      await page.route('**/v1/sessions', (route) => route.abort('connectionrefused'));
      await page.getByLabel('Password').fill('correct horse battery');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: 'Cannot reach the server' }).waitFor();
    } finally {
      await ctx.close();
    }
  });

  test('the socket opens with a single-use ticket: no token in its URL, a new ticket on every connect', opts, async () => {
    const { ctx, page } = await newPage(browser, srv.baseUrl);
    try {
      const urls: string[] = [];
      page.on('websocket', (ws) => urls.push(ws.url()));
      await register(page, 'tina');
      await eventually(async () => urls.length >= 1, 15_000, 'the socket');
      await page.reload();
      await page.getByRole('button', { name: 'Log out' }).waitFor();
      await eventually(async () => urls.length >= 2, 15_000, 'the socket after a reload');
      const token = await page.evaluate(
        () => (JSON.parse(localStorage.getItem('switchboard.session') ?? '{}') as { token?: string }).token,
      );
      assert.ok(token, 'logged in');
      for (const url of urls) {
        assert.match(url, /\/v1\/ws\?batch=1&ticket=[\w-]{32,}$/);
        assert.ok(!url.includes(token) && !url.includes(encodeURIComponent(token)) && !url.includes('access_token'), `token in ${url}`);
      }
      assert.notEqual(urls[0], urls[1], 'a ticket is used once');
    } finally {
      await ctx.close();
    }
  });

  test('user text is isolated: names in <bdi>, message bodies with dir="auto"', opts, async () => {
    // Dana's display name is Hebrew: unisolated, it would reorder the text drawn next to it.
    const dana = 'דנה';
    const reg = await http(srv.baseUrl, 'POST', '/v1/users', {
      body: { username: 'dana', password: 'correct horse battery', display_name: dana },
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const session = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: 'dana', password: 'correct horse battery' } });
    const { ctx, page } = await newPage(browser, srv.baseUrl);
    try {
      await register(page, 'omar');
      assert.equal(await page.locator('.me bdi').textContent(), 'omar');
      const omar = (await http(srv.baseUrl, 'GET', '/v1/users?username=omar', { token: session.body.token })).body.users[0];
      const group = await http(srv.baseUrl, 'POST', '/v1/groups', {
        token: session.body.token,
        body: { name: 'צוות', member_ids: [omar.user_id] },
      });
      assert.equal(group.status, 201);
      const sock = await TestSocket.connectSynced(srv.wsUrl, session.body.token);
      try {
        const ack = await sock.sendMessage(group.body.chat_id, 'שלום, omar!');
        assert.equal(ack.type, 'ack_sent');
      } finally {
        sock.terminate();
      }
      await page.getByRole('link', { name: /צוות/ }).click();
      await messages(page, 'שלום, omar!').waitFor();
      await send(page, 'hi dana');
      await messages(page, 'hi dana').waitFor();

      // Every message body decides its own direction; every name is its own isolate.
      const bodies = page.locator('li.msg .text');
      assert.equal(await bodies.count(), 2);
      assert.deepEqual(await bodies.evaluateAll((els) => els.map((e) => e.getAttribute('dir'))), ['auto', 'auto']);
      assert.equal(await page.locator('li.msg .sender > bdi').textContent(), dana);
      assert.equal(await page.locator('.conv-bar h2 > bdi').textContent(), 'צוות');
      assert.equal(await page.locator('.chats .title > bdi').first().textContent(), 'צוות');
      assert.deepEqual(await page.locator('.conv-bar .sub bdi').allTextContents(), [dana, 'You']);
      await page.getByRole('button', { name: 'Group info' }).click();
      await page.getByRole('list', { name: 'Members' }).locator('bdi', { hasText: dana }).waitFor();
      // A file named with a right-to-left override ("invoice\u202Efdp.exe" reads "invoiceexe.pdf") is sent without it.
      await page
        .getByLabel('Attach')
        .setInputFiles([{ name: 'invoice\u202Efdp.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') }]);
      await page.getByRole('button', { name: 'Remove invoicefdp.exe' }).waitFor();
      await send(page, 'the invoice');
      const file = messages(page, 'the invoice').getByRole('link', { name: /invoicefdp\.exe/ });
      await file.waitFor();
      assert.equal(await file.locator('.name > bdi').textContent(), 'invoicefdp.exe');
      assert.equal(await file.getAttribute('download'), 'invoicefdp.exe');

      // No name or body is drawn outside its isolate.
      assert.equal(await page.locator('li.msg .sender').evaluate((e) => e.childNodes.length), 1);
    } finally {
      await ctx.close();
    }
  });

  test('two people chat: ticks go to read, typing and presence show, a reload keeps the session, text stays text', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'alice');
      await register(b.page, 'bob');
      await startChat(a.page, 'bob');
      await send(a.page, 'hello bob');
      await messages(a.page, 'hello bob')
        .getByRole('img', { name: /^(sent|delivered)$/ })
        .waitFor();

      // Bob's list shows Alice's chat with one unread; opening it reads it.
      const chat = b.page.getByRole('link', { name: 'alice' });
      await chat.waitFor();
      await chat.locator('.badge').filter({ hasText: /^1$/ }).waitFor();
      await chat.getByText('hello bob').waitFor(); // the last message, in the list
      assert.equal(await b.page.title(), '(1) Switchboard');
      await chat.click();
      await messages(b.page, 'hello bob').waitFor();
      // A message's text is on screen once (the chat list draws its preview apart).
      await b.page.getByText('hello bob').waitFor();
      await messages(a.page, 'hello bob').getByRole('img', { name: 'read' }).waitFor();
      await b.page.getByRole('link', { name: 'alice' }).locator('.badge').waitFor({ state: 'detached' });
      await a.page.getByText('online', { exact: true }).waitFor();

      await b.page.getByLabel('Message').pressSequentially('typing now', { delay: 20 });
      await a.page.getByText('typing…').first().waitFor();
      await b.page.getByRole('button', { name: 'Send' }).click();
      await messages(a.page, 'typing now').waitFor();

      const html = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
      await send(a.page, html);
      await messages(b.page, html).waitFor();
      assert.equal(await b.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
      assert.equal(await b.page.locator('.messages b, .messages img').count(), 0, 'no markup from a message reaches the DOM');

      await a.page.reload();
      await a.page.getByRole('button', { name: 'Log out' }).waitFor();
      await messages(a.page, 'hello bob').getByRole('img', { name: 'read' }).waitFor();
      assert.equal(await a.page.getByLabel('Password').count(), 0, 'still logged in after a reload');

      await send(b.page, 'Looks good, see you at 8?');
      await messages(a.page, 'Looks good, see you at 8?').waitFor();
      await send(a.page, 'Perfect, see you there');
      await messages(a.page, 'Perfect, see you there').getByRole('img', { name: 'read' }).waitFor();
      // docs/screenshot.png is taken by web-lifecycle.test.ts, with replies, reactions and an edit.
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test("a message that comes live while the chat's page is loading is shown, though the page was read before it", opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'paula');
      await register(b.page, 'pedro');
      await startChat(a.page, 'pedro');
      await send(a.page, 'first');
      await b.page.getByRole('link', { name: 'paula' }).click();
      await messages(b.page, 'first').waitFor();

      // Pedro opens the chat again (a click in the list loads its latest page anew). The server
      // reads the page at once; it reaches his tab only after Paula's next message came live.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let pageRead!: () => void;
      const read = new Promise<void>((resolve) => (pageRead = resolve));
      let first = true;
      await b.page.route(/\/v1\/chats\/[^/]+\/messages/, async (route) => {
        if (!first) return route.continue();
        first = false;
        const response = await route.fetch();
        pageRead();
        await held;
        await route.fulfill({ response });
      });
      await b.page.getByRole('link', { name: 'paula' }).click();
      await read;
      await send(a.page, 'while loading');
      await messages(a.page, 'while loading')
        .getByRole('img', { name: /^(sent|delivered)$/ })
        .waitFor();
      // Arrived live: the chat list shows it as the last message (drawn from data-text).
      await b.page.getByRole('link', { name: 'paula' }).locator('.preview[data-text="while loading"]').waitFor();
      release();
      await messages(b.page, 'first').waitFor();
      await messages(b.page, 'while loading').waitFor({ timeout: 10_000 });
      assert.equal(await messages(b.page, 'while loading').count(), 1);
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('offline and back: what was typed meanwhile is delivered exactly once', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'olive');
      await register(b.page, 'oscar');
      await startChat(a.page, 'oscar');
      await send(a.page, 'before the tunnel');
      await b.page.getByRole('link', { name: 'olive' }).click();
      await messages(b.page, 'before the tunnel').waitFor();

      await a.ctx.setOffline(true);
      await a.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor();
      await send(a.page, 'in the tunnel 1');
      await send(a.page, 'in the tunnel 2');
      await messages(a.page, 'in the tunnel 2').getByRole('img', { name: 'sending' }).waitFor();
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await messages(b.page, 'in the tunnel 1').count(), 0, 'nothing leaves while offline');
      await a.ctx.setOffline(false);

      await messages(b.page, 'in the tunnel 2').waitFor({ timeout: 20_000 });
      await messages(a.page, 'in the tunnel 2')
        .getByRole('img', { name: /^(sent|delivered|read)$/ })
        .waitFor();
      await a.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor({ state: 'detached' });
      await new Promise((r) => setTimeout(r, 500));
      for (const page of [a.page, b.page]) {
        assert.equal(await messages(page, 'in the tunnel 1').count(), 1);
        assert.equal(await messages(page, 'in the tunnel 2').count(), 1);
      }
      // And the server stored each once.
      await b.page.reload();
      await messages(b.page, 'in the tunnel 2').waitFor();
      assert.equal(await messages(b.page, 'in the tunnel 1').count(), 1);

      // Typed offline, then the tab is closed: the next tab sends it (kept in localStorage).
      // Wait until the tab knows it is offline: a send racing the emulated cut could still be
      // acknowledged over the closing socket, and then it is no longer pending.
      await a.ctx.setOffline(true);
      await a.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor();
      await send(a.page, 'typed before closing');
      await messages(a.page, 'typed before closing').getByRole('img', { name: 'sending' }).waitFor();
      await a.page.close();
      await a.ctx.setOffline(false);
      const again = await a.ctx.newPage();
      // This step has failed now and then in full runs, never alone (2026-12-07): what the new
      // tab did is printed when it fails, for the next look.
      const seen = watchPage(again);
      await again.goto('/');
      await b.page.getByRole('link', { name: 'olive' }).click();
      // A wait for progress, not a latency bound: the new tab starts encryption (code, IndexedDB,
      // key packages) before its socket connects, and under a full test run this once took
      // longer than the 20 s this waited before.
      await messages(b.page, 'typed before closing')
        .waitFor({ timeout: 60_000 })
        .catch(async (err: unknown) => {
          const status = await again
            .getByRole('status')
            .allTextContents()
            .catch(() => []);
          const outbox = await again.evaluate(() => JSON.stringify(Object.entries(localStorage))).catch(() => '?');
          console.log(`# the new tab, on failure: status ${JSON.stringify(status)}, localStorage ${outbox}\n${seen.join('\n')}`);
          throw err;
        });
      await again.getByRole('link', { name: 'oscar' }).click();
      await messages(again, 'typed before closing')
        .getByRole('img', { name: /^(sent|delivered|read)$/ })
        .waitFor();
      assert.equal(await messages(b.page, 'typed before closing').count(), 1);
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('10,000 messages: the latest page shows at once, scrolling up loads older ones, the page keeps a window', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'hana');
      const other = await http(srv.baseUrl, 'POST', '/v1/users', { body: { username: 'hugo', password: 'correct horse battery' } });
      const hugo = await http(srv.baseUrl, 'POST', '/v1/sessions', { body: { username: 'hugo', password: 'correct horse battery' } });
      const hana = await http(srv.baseUrl, 'GET', `/v1/users?username=hana`, { token: hugo.body.token });
      const chatId = `dm:${[other.body.user_id, hana.body.users[0].user_id].sort().join(':')}`;
      const sock = await TestSocket.connectSynced(srv.wsUrl, hugo.body.token);
      const total = 10_000;
      for (let i = 1; i <= total; i++)
        sock.send({ type: 'send_message', chat_id: chatId, client_msg_id: `bulk-${i}`, content: `bulk ${i}` });
      await sock.nextWhere((f) => f.type === 'ack_sent' && f.client_msg_id === `bulk-${total}`, 120_000, 'the last ack');
      await sock.close();

      await a.page.getByRole('link', { name: 'hugo' }).click();
      await messages(a.page, `bulk ${total}`).waitFor();
      const log = a.page.getByRole('log', { name: 'Chat history' });
      assert.ok((await log.locator('li.msg').count()) <= 200);
      assert.equal(await messages(a.page, 'bulk 1').count(), 0);

      // Scroll up page by page: older messages arrive, the page never holds more than the window.
      const target = `bulk ${total - 400}`;
      let most = 0;
      await eventually(
        async () => {
          await log.evaluate((el) => (el.scrollTop = 0));
          most = Math.max(most, await log.locator('li.msg').count());
          return (await messages(a.page, target).count()) === 1;
        },
        60_000,
        'older pages to load',
      );
      assert.ok(most <= 200, `the page held ${most} messages`);
      assert.equal(await messages(a.page, `bulk ${total}`).count(), 0, 'the newest page was dropped from the page');
      await a.page.getByRole('button', { name: 'Jump to latest' }).click();
      await messages(a.page, `bulk ${total}`).waitFor();
    } finally {
      await a.ctx.close();
    }
  });

  test('a group of three: create, everyone chats, ticks, rename, members; search jumps to a message', opts, async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => newPage(browser, srv.baseUrl)));
    try {
      await register(a!.page, 'gina');
      await register(b!.page, 'gus');
      await register(c!.page, 'gwen');
      await a!.page.getByRole('button', { name: 'New group' }).click();
      await a!.page.getByLabel('Group name').fill('Trio');
      await a!.page.getByLabel('Members').fill('gus, gwen');
      await a!.page.getByRole('button', { name: 'Create group' }).click();
      await send(a!.page, 'welcome to the trio');
      for (const p of [b!.page, c!.page]) {
        await p.getByRole('link', { name: 'Trio' }).click();
        await messages(p, 'welcome to the trio').waitFor();
      }
      await messages(a!.page, 'welcome to the trio').getByRole('img', { name: 'read' }).waitFor();
      await send(c!.page, 'gwen here');
      await messages(a!.page, 'gwen here').waitFor();
      await messages(b!.page, 'gwen here').getByText('gwen', { exact: true }).waitFor();

      await a!.page.getByRole('button', { name: 'Group info' }).click();
      await a!.page.getByRole('list', { name: 'Members' }).getByText('gwen', { exact: true }).waitFor();
      await a!.page.getByRole('textbox', { name: 'Group name' }).fill('Trio rebooted');
      await a!.page.getByRole('button', { name: 'Rename' }).click();
      await b!.page.getByRole('link', { name: 'Trio rebooted' }).waitFor();
      await a!.page.getByRole('button', { name: 'Remove gwen' }).click();
      await c!.page.getByText('You are no longer a member').waitFor();
      await a!.page.getByLabel('Add member').fill('gwen');
      await a!.page.getByRole('button', { name: 'Add', exact: true }).click();
      await c!.page.getByLabel('Message').waitFor();
      await send(c!.page, 'back again');
      await messages(a!.page, 'back again').waitFor();

      await b!.page.getByRole('searchbox', { name: 'Search' }).fill('welcome');
      await b!.page.getByRole('navigation', { name: 'Results' }).getByRole('link').first().click();
      await b!.page.locator('li.msg.highlight').filter({ hasText: 'welcome to the trio' }).waitFor();

      await b!.page.getByRole('button', { name: 'Group info' }).click();
      await b!.page.getByRole('button', { name: 'Leave group' }).click();
      await b!.page.getByRole('searchbox', { name: 'Search' }).fill('');
      await b!.page.getByRole('link', { name: 'Trio rebooted' }).waitFor({ state: 'detached' });
      await a!.page.getByRole('list', { name: 'Members' }).getByText('gus', { exact: true }).waitFor({ state: 'detached' });
    } finally {
      for (const x of [a, b, c]) await x?.ctx.close();
    }
  });

  test('attachments: a photo with a caption and a text file are uploaded with progress, shown inline and downloadable', opts, async () => {
    // A valid 1×1 PNG; the server measures and thumbnails it.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
    const text = Buffer.from('plain notes <b>not html</b>\nline two\n', 'utf8');
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'uma');
      await register(b.page, 'vic');
      await startChat(a.page, 'vic');
      // Uploads held back until their progress bars have been seen (the bytes still go to the real server).
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await a.page.route(
        (url) => url.pathname.startsWith('/v1/media'),
        async (route) => {
          if (route.request().method() !== 'POST') await held;
          await route.continue();
        },
      );
      await a.page.getByLabel('Attach').setInputFiles([
        { name: 'dot <i>.png', mimeType: 'image/png', buffer: png },
        { name: 'notes.txt', mimeType: 'text/plain', buffer: text },
      ]);
      await a.page.getByRole('progressbar', { name: 'Uploading notes.txt' }).waitFor();
      await a.page.getByRole('progressbar', { name: 'Uploading dot <i>.png' }).waitFor();
      assert.equal(await a.page.getByRole('button', { name: 'Send' }).isDisabled(), true, 'no send while uploading');
      release();
      await a.page.getByRole('button', { name: 'Remove notes.txt' }).waitFor();
      await a.page.getByRole('button', { name: 'Remove dot <i>.png' }).waitFor();
      await send(a.page, 'look at this');
      await messages(a.page, 'look at this')
        .getByRole('img', { name: /^(sent|delivered|read)$/ })
        .waitFor();

      await b.page.getByRole('link', { name: /uma/ }).click();
      const row = messages(b.page, 'look at this');
      const img = row.getByRole('img', { name: 'dot <i>.png', exact: true });
      await img.waitFor();
      await eventually(
        () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0),
        15_000,
        'thumbnail',
      );
      const link = row.getByRole('link', { name: /notes\.txt/ });
      await link.waitFor();
      const href = await link.getAttribute('href');
      assert.ok(href, 'the download link has an href');
      const res = await fetch(new URL(href, srv.baseUrl));
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), text);
      // File names are text: nothing of them became markup.
      assert.equal(await row.locator('i').count(), 0);
      // The sender sees the same, from its own upload.
      await messages(a.page, 'look at this')
        .getByRole('link', { name: /notes\.txt/ })
        .waitFor();
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('notifications: the service worker is served fresh as a script, and the opt-in button is there', opts, async () => {
    const sw = await rawGet(srv.port, '/sw.js');
    assert.equal(sw.status, 200);
    assert.match(String(sw.headers['content-type']), /^text\/javascript/);
    assert.equal(sw.headers['cache-control'], 'no-cache');
    assert.match(sw.body, /addEventListener\('push'/);
    assert.match(sw.body, /notificationclick/);
    const { ctx, page } = await newPage(browser, srv.baseUrl);
    try {
      await register(page, 'wes');
      await page.getByRole('button', { name: /notifications/ }).waitFor();
    } finally {
      await ctx.close();
    }
  });

  test('two tabs and two devices of one user stay in sync; a revoked session returns to the login form', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    const other = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'tara');
      await register(b.page, 'tom');
      const tab2 = await b.ctx.newPage();
      await tab2.goto('/');
      await tab2.getByRole('button', { name: 'Log out' }).waitFor();
      await login(other.page, 'tom');
      await startChat(a.page, 'tom');
      await send(a.page, 'one for both tabs');
      for (const p of [b.page, tab2, other.page])
        await p.getByRole('link', { name: 'tara' }).locator('.badge').filter({ hasText: /^1$/ }).waitFor();

      await b.page.getByRole('link', { name: 'tara' }).click();
      await messages(b.page, 'one for both tabs').waitFor();
      for (const p of [tab2, other.page]) await p.getByRole('link', { name: 'tara' }).locator('.badge').waitFor({ state: 'detached' });

      // Sent from one tab, shown in the other.
      await send(b.page, 'from tab one');
      await tab2.getByRole('link', { name: 'tara' }).click();
      await messages(tab2, 'from tab one').waitFor();

      const token = await other.page.evaluate(() => JSON.parse(localStorage.getItem('switchboard.session') ?? '{}').token as string);
      assert.equal((await http(srv.baseUrl, 'DELETE', '/v1/sessions/current', { token })).status, 204);
      await other.page
        .getByRole('alert')
        .filter({ hasText: /log in again/i })
        .waitFor();
      await other.page.getByRole('button', { name: 'Log in' }).waitFor();
    } finally {
      await a.ctx.close();
      await b.ctx.close();
      await other.ctx.close();
    }
  });
});
