import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { http, startTestServer, type TestServer } from '@switchboard/server/testing';
import { eventually, launch, messages, newPage, register, repoRoot, send, skipReason, startChat } from './support.js';

/*
 * End-to-end encryption in the web client (docs/e2ee.md "Web client"): real browsers, each
 * its own device with its MLS state in IndexedDB, a real server that must never see a text.
 */

const skip = skipReason();
if (skip) console.log(`web client browser tests skipped: ${skip}`);
const opts = { skip: skip ?? false };

const CODE = /^(\d{5} ){11}\d{5}$/;

/** Picks `item` from the menu of the message showing `text`. */
async function choose(page: Page, text: string, item: string): Promise<void> {
  const row = messages(page, text);
  await row.hover();
  await row.getByRole('button', { name: 'Message actions' }).click();
  await page.getByRole('menu').getByRole('menuitem', { name: item, exact: true }).click();
}

/** The session token the page keeps (for the checks made over HTTP, as a person's own device could). */
async function tokenOf(page: Page): Promise<string> {
  const token = await page.evaluate(() => (JSON.parse(localStorage.getItem('switchboard.session') ?? '{}') as { token?: string }).token);
  assert.ok(token, 'logged in');
  return token;
}

/** Waits until the page's device keeps key packages on the server (others can then add it to an encrypted chat). */
async function keyPackagesUp(srv: TestServer, page: Page): Promise<void> {
  const token = await tokenOf(page);
  await eventually(
    async () => ((await http(srv.baseUrl, 'GET', '/v1/mls/key-packages', { token })).body as { available?: number }).available! >= 20,
    15_000,
    'key packages uploaded',
  );
}

/** Makes the direct chat between the page's user and `username` encrypted (their device keeps key packages). */
async function encryptedChat(srv: TestServer, a: Page, b: Page, username: string): Promise<string> {
  await keyPackagesUp(srv, b);
  await startChat(a, username);
  await a.getByRole('button', { name: 'Encrypt chat' }).click();
  await a.getByRole('button', { name: 'Security code' }).waitFor();
  return decodeURIComponent(new URL(a.url()).pathname.split('/').pop()!);
}

/** Every byte the server's media store holds on disk (the test server keeps media under its data dir). */
function mediaOnDisk(srv: TestServer): Buffer {
  const root = path.join(srv.dataDir, 'media');
  if (!existsSync(root)) return Buffer.alloc(0);
  const files = (readdirSync(root, { recursive: true }) as string[]).map((f) => path.join(root, f)).filter((f) => statSync(f).isFile());
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

/** The bytes behind one of the page's Blob URLs, saved as a download (the app's CSP lets the page fetch from its server only). */
async function savedFrom(page: Page, url: string): Promise<Buffer> {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.evaluate((u) => {
      const a = document.createElement('a');
      a.href = u;
      a.download = 'copy';
      a.click();
    }, url),
  ]);
  return readFileSync(await download.path());
}

/** Whether an image loads from `url` in the page (a revoked Blob URL does not). */
function loadsAsImage(page: Page, url: string): Promise<boolean> {
  return page.evaluate(
    (u) =>
      new Promise<boolean>((resolve) => {
        const img = new Image();
        img.onload = () => resolve(true);
        img.onerror = () => resolve(false);
        img.src = u;
      }),
    url,
  );
}

/** The code the "Security code" screen shows for `who` ("You" for oneself); opens the screen when it is closed. */
async function codeShown(page: Page, who: string): Promise<string> {
  const screen = page.getByRole('region', { name: 'Security code' });
  if (!(await screen.isVisible())) await page.getByRole('button', { name: 'Security code' }).click();
  const item = screen.getByRole('list', { name: 'Security codes' }).getByRole('listitem').filter({ hasText: who });
  const code = (await item.locator('code').textContent()) ?? '';
  assert.match(code, CODE, `the code of ${who}`);
  return code;
}

describe('web client: end-to-end encryption', () => {
  let srv: TestServer;
  let browser: Browser;
  const plaintexts: string[] = [];

  before(async () => {
    if (skip) return;
    srv = await startTestServer({ rateLimits: false });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test(
    'an encrypted direct chat: lock marks, decrypted both ways with ticks, equal security codes, no plaintext on the server, a reload keeps it readable',
    opts,
    async () => {
      const a = await newPage(browser, srv.baseUrl);
      const b = await newPage(browser, srv.baseUrl);
      try {
        await register(a.page, 'alice');
        await register(b.page, 'bob');
        await keyPackagesUp(srv, b.page);
        await startChat(a.page, 'bob');
        const header = a.page.locator('header.conv-bar');
        assert.equal(await header.getByRole('img', { name: 'End-to-end encrypted' }).count(), 0, 'plaintext until encrypted');
        await a.page.getByRole('button', { name: 'Encrypt chat' }).click();
        await header.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
        await a.page.getByRole('button', { name: 'Security code' }).waitFor();
        // Files go too: encrypted in the page when sent.
        assert.equal(await a.page.getByLabel('Attach').isDisabled(), false);

        const first = 'the treasure is under the old oak';
        plaintexts.push(first);
        await send(a.page, first);
        await messages(a.page, first)
          .getByRole('img', { name: /^(sent|delivered|read)$/ })
          .waitFor();

        // Bob's list shows the chat as encrypted; opened, the message reads as Alice typed it.
        const link = b.page.getByRole('link', { name: /^alice/ });
        await link.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
        await link.click();
        await messages(b.page, first).waitFor();
        await b.page.locator('header.conv-bar').getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
        // Alice's tick goes to read once Bob has it on screen.
        await messages(a.page, first).getByRole('img', { name: 'read' }).waitFor();

        const reply = 'noted, bringing a shovel';
        plaintexts.push(reply);
        await send(b.page, reply);
        await messages(a.page, reply).waitFor();
        await messages(b.page, reply).getByRole('img', { name: 'read' }).waitFor();

        // The menu offers what plaintext chats do: replies, reactions and edits travel inside the ciphertext.
        await messages(a.page, reply).hover();
        await messages(a.page, reply).getByRole('button', { name: 'Message actions' }).click();
        const menu = a.page.getByRole('menu', { name: 'Actions' });
        assert.deepEqual(await menu.getByRole('menuitem').allTextContents(), ['Reply', 'React', 'Copy', 'Report']);
        await a.page.keyboard.press('Escape');

        // Both screens compute the same code for a person: Bob's on Alice's screen is Bob's own, and the reverse.
        const bobOnA = await codeShown(a.page, 'bob');
        const aliceOnA = await codeShown(a.page, 'You');
        const bobOnB = await codeShown(b.page, 'You');
        const aliceOnB = await codeShown(b.page, 'alice');
        assert.equal(bobOnA, bobOnB);
        assert.equal(aliceOnA, aliceOnB);
        assert.notEqual(aliceOnA, bobOnA);

        // The server holds ciphertext only: its history has no content, its SQLite file none of the texts.
        const chatId = decodeURIComponent(new URL(a.page.url()).pathname.split('/').pop()!);
        const history = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages`, {
          token: await tokenOf(a.page),
        });
        assert.equal(history.status, 200);
        const stored = (history.body as { messages: { content: string; ciphertext?: string }[] }).messages;
        assert.equal(stored.length, 2);
        for (const m of stored) {
          assert.equal(m.content, '');
          assert.ok(m.ciphertext && m.ciphertext.length > 50, 'a ciphertext');
        }
        for (const text of plaintexts) assert.equal(JSON.stringify(history.body).includes(text), false);
        // The chat list says the chat is encrypted (for a device not in its group yet, too).
        const list = await http(srv.baseUrl, 'GET', '/v1/chats', { token: await tokenOf(b.page) });
        const summary = (list.body as { chats: { chat_id: string; encrypted?: boolean }[] }).chats.find((c) => c.chat_id === chatId);
        assert.equal(summary?.encrypted, true);
        const files = ['switchboard.db', 'switchboard.db-wal'].map((f) => path.join(srv.dataDir, f)).filter(existsSync);
        const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
        for (const text of plaintexts) assert.equal(bytes.indexOf(Buffer.from(text, 'utf8')), -1, `"${text}" is in the store`);
        assert.notEqual(bytes.indexOf(Buffer.from('alice', 'utf8')), -1, 'the scan finds what is there');

        // A second tab of Alice's browser is the same device: only one tab does encryption (it says
        // so), and it shows the texts the first one kept or decrypts.
        const a2 = await a.ctx.newPage();
        await a2.goto(a.page.url());
        await a2.getByText('Encrypted chats are open in another tab of this browser.').waitFor();
        await messages(a2, first).waitFor();
        await messages(a2, reply).waitFor();
        const tabNews = 'seen in both tabs';
        plaintexts.push(tabNews);
        await send(b.page, tabNews);
        await messages(a.page, tabNews).waitFor();
        await messages(a2, tabNews).waitFor();
        await a2.close();

        // A reply, a reaction and an edit, each inside the ciphertext; the server stores three more ciphertexts and no text.
        const answer = 'which oak, the one by the river?';
        plaintexts.push(answer);
        await choose(b.page, first, 'Reply');
        await b.page.getByText('Replying to alice').waitFor();
        await send(b.page, answer);
        const quote = messages(a.page, answer).getByRole('button', { name: 'Quoted message from You' });
        await quote.waitFor();
        assert.equal(await quote.locator('.quote-text').getAttribute('data-text'), first);
        await messages(b.page, answer).getByRole('button', { name: 'Quoted message from alice' }).waitFor();
        await choose(a.page, answer, 'React');
        await a.page.getByRole('menu', { name: 'Reactions' }).getByRole('menuitem', { name: '😮' }).click();
        const chip = (page: Page, text: string, name: string) => messages(page, text).getByRole('button', { name, exact: true });
        await chip(b.page, answer, '😮 1').waitFor();
        assert.equal(await chip(a.page, answer, '😮 1').getAttribute('aria-pressed'), 'true', "alice's own reaction is marked");
        const moved = 'the treasure is under the young birch';
        plaintexts.push(moved);
        await choose(a.page, first, 'Edit');
        const box = a.page.getByLabel('Message');
        await eventually(async () => (await box.inputValue()) === first, 5000, 'the text to edit in the composer');
        await box.fill(moved);
        await a.page.getByRole('button', { name: 'Save' }).click();
        for (const page of [a.page, b.page]) {
          await messages(page, moved).getByText('edited', { exact: true }).waitFor();
          assert.equal(await messages(page, first).count(), 0);
        }
        // Bob cannot edit Alice's message, nor is any change shown as a message of its own.
        await messages(b.page, moved).hover();
        await messages(b.page, moved).getByRole('button', { name: 'Message actions' }).click();
        assert.deepEqual(await b.page.getByRole('menu', { name: 'Actions' }).getByRole('menuitem').allTextContents(), [
          'Reply',
          'React',
          'Copy',
          'Report',
        ]);
        await b.page.keyboard.press('Escape');
        for (const page of [a.page, b.page]) assert.equal(await page.locator('li.msg').filter({ hasText: 'Encrypted message' }).count(), 0);
        const afterChanges = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages`, {
          token: await tokenOf(a.page),
        });
        const storedAfter = (
          afterChanges.body as { messages: { content: string; ciphertext?: string; reply_to?: unknown; reactions?: unknown }[] }
        ).messages;
        assert.equal(storedAfter.length, 6, 'the reply, the reaction and the edit are ciphertexts of their own');
        for (const m of storedAfter)
          assert.deepEqual([m.content, typeof m.ciphertext, m.reply_to, m.reactions], ['', 'string', undefined, undefined]);
        for (const text of plaintexts) assert.equal(JSON.stringify(afterChanges.body).includes(text), false);

        // A reload keeps everything readable (the texts and the MLS state are in IndexedDB), and new messages still decrypt.
        await b.page.reload();
        await messages(b.page, moved).getByText('edited', { exact: true }).waitFor();
        await messages(b.page, reply).waitFor();
        await chip(b.page, answer, '😮 1').waitFor();
        assert.equal(await messages(b.page, answer).locator('.quote-text').getAttribute('data-text'), first);
        assert.equal(await b.page.locator('li.msg').filter({ hasText: 'Encrypted message' }).count(), 0, 'the changes stay hidden');
        const later = 'after the reload, still secret';
        plaintexts.push(later);
        await send(a.page, later);
        await messages(b.page, later).waitFor();
        const back = 'and back again';
        plaintexts.push(back);
        await send(b.page, back);
        await messages(a.page, back).waitFor();
        assert.equal(await codeShown(b.page, 'alice'), aliceOnA, 'the same code after a reload');

        // Bob logs in on a second browser: a new device. Alice's app adds it when she opens the chat,
        // and says that Bob's code changed since she last looked; the new device reads what comes next.
        const b2 = await newPage(browser, srv.baseUrl);
        try {
          await b2.page.getByLabel('Username').fill('bob');
          await b2.page.getByLabel('Password').fill('correct horse battery');
          await b2.page.getByRole('button', { name: 'Log in' }).click();
          await b2.page.getByRole('button', { name: 'Log out' }).waitFor();
          await keyPackagesUp(srv, b2.page);
          await a.page.getByRole('button', { name: 'Close' }).click();
          await a.page.getByRole('link', { name: /^bob/ }).click();
          const notice = a.page.getByRole('status').filter({ hasText: 'security code changed' });
          await notice.waitFor();
          assert.match((await notice.textContent()) ?? '', /^bob’s security code changed/);
          const bobNow = await codeShown(a.page, 'bob');
          assert.notEqual(bobNow, bobOnA);
          await a.page.getByRole('button', { name: 'Close' }).click();
          assert.equal(await notice.count(), 0, 'shown, the new code is the one compared with');
          const third = 'one for both of your devices';
          plaintexts.push(third);
          await send(a.page, third);
          await b2.page.getByRole('link', { name: /^alice/ }).click();
          await messages(b2.page, third).waitFor();
          await messages(b.page, third).waitFor();
          assert.equal(await codeShown(b2.page, 'You'), bobNow);
        } finally {
          await b2.ctx.close();
        }
      } finally {
        await a.ctx.close();
        await b.ctx.close();
      }
    },
  );

  test(
    "the SDK's IndexedDB storage: put replaces whole values, list by prefix, delete, kept across a reopen, gone with the database",
    opts,
    async () => {
      const { ctx, page } = await newPage(browser, srv.baseUrl);
      try {
        // The module as the SDK builds it, served from the app's origin (its CSP allows only same-origin scripts).
        const source = readFileSync(path.join(repoRoot, 'packages/client/dist/e2ee/indexeddb-storage.js'), 'utf8');
        await page.route('**/__test__/indexeddb-storage.js', (route) => route.fulfill({ body: source, contentType: 'text/javascript' }));
        const result = await page.evaluate(async () => {
          type Storage = {
            get(k: string): Promise<Uint8Array | undefined>;
            put(k: string, v: Uint8Array): Promise<void>;
            delete(k: string): Promise<void>;
            list(p: string): Promise<string[]>;
            close(): void;
          };
          const url = '/__test__/indexeddb-storage.js';
          const mod = (await import(url)) as {
            indexedDbStorage(name: string): Promise<Storage>;
            deleteIndexedDbStorage(name: string): Promise<void>;
          };
          const arr = (v: Uint8Array | undefined) => (v ? Array.from(v) : null);
          let s = await mod.indexedDbStorage('storage-test');
          const value = new Uint8Array([1, 2, 3]);
          await s.put('group/a', value);
          value[0] = 99; // the caller's buffer changing later does not change what is stored
          await s.put('group/b', new Uint8Array([4]));
          await s.put('groupx', new Uint8Array([5]));
          await s.put('group/\uffff\uffff', new Uint8Array([6]));
          await s.put('kp/1', new Uint8Array([7]));
          await s.put('group/b', new Uint8Array([8, 8])); // replaces
          const listed = await s.list('group/');
          const all = await s.list('');
          const a = arr(await s.get('group/a'));
          const b = arr(await s.get('group/b'));
          await s.delete('kp/1');
          await s.delete('kp/never');
          const gone = arr(await s.get('kp/1'));
          s.close();
          s = await mod.indexedDbStorage('storage-test');
          const reopened = { a: arr(await s.get('group/a')), list: await s.list('') };
          s.close();
          await mod.deleteIndexedDbStorage('storage-test');
          s = await mod.indexedDbStorage('storage-test');
          const afterDelete = await s.list('');
          s.close();
          return { listed, all, a, b, gone, reopened, afterDelete };
        });
        assert.deepEqual(result.listed, ['group/a', 'group/b', 'group/\uffff\uffff']);
        assert.deepEqual(result.all, ['group/a', 'group/b', 'group/\uffff\uffff', 'groupx', 'kp/1']);
        assert.deepEqual(result.a, [1, 2, 3]);
        assert.deepEqual(result.b, [8, 8]);
        assert.equal(result.gone, null);
        assert.deepEqual(result.reopened, { a: [1, 2, 3], list: ['group/a', 'group/b', 'group/\uffff\uffff', 'groupx'] });
        assert.deepEqual(result.afterDelete, []);
      } finally {
        await ctx.close();
      }
    },
  );

  test('a three-person encrypted group: created with the checkbox, everyone reads everyone', opts, async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => newPage(browser, srv.baseUrl)));
    try {
      await register(a!.page, 'gina');
      await register(b!.page, 'hugo');
      await register(c!.page, 'ines');
      await keyPackagesUp(srv, b!.page);
      await keyPackagesUp(srv, c!.page);
      await a!.page.getByRole('button', { name: 'New group' }).click();
      const form = a!.page.getByRole('form', { name: 'New group' });
      await form.getByLabel('Group name').fill('vault');
      await form.getByLabel('Members').fill('hugo, ines');
      await form.getByLabel('End-to-end encrypted').check();
      await form.getByRole('button', { name: 'Create group' }).click();
      await a!.page.locator('header.conv-bar').getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
      const texts = ['gina: the code is 4711', 'hugo: got it', 'ines: me too'];
      plaintexts.push(...texts);
      await send(a!.page, texts[0]!);
      for (const p of [b!, c!]) {
        const link = p.page.getByRole('link', { name: /^vault/ });
        await link.getByRole('img', { name: 'End-to-end encrypted' }).waitFor();
        await link.click();
        await messages(p.page, texts[0]!).waitFor();
      }
      await send(b!.page, texts[1]!);
      await send(c!.page, texts[2]!);
      for (const p of [a!, b!, c!]) for (const t of texts) await messages(p.page, t).waitFor();
      // Each person's code reads the same on the other two screens.
      const hugoOnB = await codeShown(b!.page, 'You');
      assert.equal(await codeShown(a!.page, 'hugo'), hugoOnB);
      assert.equal(await codeShown(c!.page, 'hugo'), hugoOnB);
      const files = ['switchboard.db', 'switchboard.db-wal'].map((f) => path.join(srv.dataDir, f)).filter(existsSync);
      const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
      for (const text of plaintexts) assert.equal(bytes.indexOf(Buffer.from(text, 'utf8')), -1, `"${text}" is in the store`);
    } finally {
      for (const p of [a, b, c]) await p?.ctx.close();
    }
  });

  test(
    'files in an encrypted chat: encrypted by the sender with its own thumbnail, shown and downloaded by the other byte for byte, kept across a reload; the server stores none of their bytes',
    opts,
    async () => {
      const a = await newPage(browser, srv.baseUrl);
      const b = await newPage(browser, srv.baseUrl);
      try {
        await register(a.page, 'erin');
        await register(b.page, 'fred');
        const chatId = await encryptedChat(srv, a.page, b.page, 'fred');
        // A picture drawn in the browser, larger than a thumbnail (800×600 PNG), and a document.
        const photo = Buffer.from(
          await a.page.evaluate(async () => {
            const canvas = document.createElement('canvas');
            canvas.width = 800;
            canvas.height = 600;
            const g = canvas.getContext('2d')!;
            for (let y = 0; y < 600; y += 20)
              for (let x = 0; x < 800; x += 20) {
                g.fillStyle = `rgb(${(x * 7 + y) % 256}, ${(y * 3) % 256}, ${(x + y * 5) % 256})`;
                g.fillRect(x, y, 20, 20);
              }
            const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'));
            return Array.from(new Uint8Array(await blob.arrayBuffer()));
          }),
        );
        const doc = Buffer.from(
          `%PDF-1.4\n% the ledger\n${'line 0042: one thousand gold coins under the old oak, north side\n'.repeat(40)}%%EOF\n`,
          'utf8',
        );
        // The files answer a message: the reply travels inside the first file's ciphertext.
        const lead = 'the map follows';
        plaintexts.push(lead);
        await send(a.page, lead);
        await choose(a.page, lead, 'Reply');
        const mediaBefore = mediaOnDisk(srv).length;
        await a.page.getByLabel('Attach').setInputFiles([
          { name: 'map.png', mimeType: 'image/png', buffer: photo },
          { name: 'ledger.pdf', mimeType: 'application/pdf', buffer: doc },
        ]);
        // Nothing is uploaded before Send: the bytes are encrypted first.
        await a.page.getByRole('button', { name: 'Remove ledger.pdf' }).waitFor();
        await a.page.getByRole('button', { name: 'Remove map.png' }).waitFor();
        assert.equal(await a.page.getByRole('progressbar').count(), 0);
        assert.equal(mediaOnDisk(srv).length, mediaBefore, 'no upload yet');
        const caption = 'where we buried it';
        plaintexts.push(caption);
        await send(a.page, caption);

        // The sender sees both, from what it kept of its own upload (it cannot decrypt its message).
        const kb = `${(doc.length / 1024).toFixed(1)} KB`;
        const sent = messages(a.page, caption);
        await sent.getByRole('img', { name: /^(sent|delivered|read)$/ }).waitFor();
        const shown = async (img: Locator) =>
          eventually(
            () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0),
            15_000,
            'the image decrypted',
          );
        await shown(sent.getByRole('img', { name: 'map.png', exact: true }));
        const aLog = a.page.getByRole('log', { name: 'Chat history' });
        await aLog.getByRole('link', { name: `ledger.pdf ${kb}` }).waitFor();

        // The other person: the thumbnail the sender made, the image itself when opened, the document downloaded.
        await b.page.getByRole('link', { name: /^erin/ }).click();
        const row = messages(b.page, caption);
        const img = row.getByRole('img', { name: 'map.png', exact: true });
        await shown(img);
        await row.getByRole('button', { name: 'Quoted message from erin' }).waitFor();
        assert.equal(await row.locator('.quote-text').getAttribute('data-text'), lead);
        assert.deepEqual(
          await img.evaluate((el) => [(el as HTMLImageElement).naturalWidth, (el as HTMLImageElement).naturalHeight]),
          [320, 240],
          'the thumbnail, not the image',
        );
        const thumbUrl = (await img.getAttribute('src'))!;
        assert.match(thumbUrl, /^blob:/);
        const thumb = await savedFrom(b.page, thumbUrl);
        assert.ok(thumb.length > 100, 'the thumbnail');
        const imageLink = row.getByRole('link', { name: 'map.png', exact: true });
        await imageLink.click();
        await eventually(async () => /^blob:/.test((await imageLink.getAttribute('href')) ?? ''), 15_000, 'the image decrypted');
        const fullUrl = (await imageLink.getAttribute('href'))!;
        assert.deepEqual(await savedFrom(b.page, fullUrl), photo);
        const bLog = b.page.getByRole('log', { name: 'Chat history' });
        const docLink = bLog.getByRole('link', { name: `ledger.pdf ${kb}` });
        const download = async () => {
          const [d] = await Promise.all([b.page.waitForEvent('download'), docLink.click()]);
          assert.equal(d.suggestedFilename(), 'ledger.pdf');
          assert.deepEqual(readFileSync(await d.path()), doc);
        };
        await download();
        await messages(a.page, caption).getByRole('img', { name: 'read' }).waitFor();

        // The server has opaque uploads only: no name, no type, and none of the bytes, thumbnail included.
        const stored0 = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages`, {
          token: await tokenOf(a.page),
        });
        const stored = (stored0.body as { messages: { content: string; ciphertext?: string; attachments?: Record<string, unknown>[] }[] })
          .messages;
        assert.deepEqual(
          stored.map((m) => [m.content, typeof m.ciphertext, m.attachments?.map((x) => [x.content_type, x.filename])]),
          [
            ['', 'string', undefined],
            [
              '',
              'string',
              [
                ['application/octet-stream', null],
                ['application/octet-stream', null],
              ],
            ],
            ['', 'string', [['application/octet-stream', null]]],
          ],
          'one message per file, the image with its thumbnail',
        );
        const body = JSON.stringify(stored0.body);
        for (const name of ['map.png', 'ledger.pdf', 'image/png', 'application/pdf', caption, lead])
          assert.equal(body.includes(name), false, name);
        assert.equal(body.includes('reply_to'), false, 'the reply is inside the ciphertext');
        const media = mediaOnDisk(srv);
        assert.ok(media.length >= photo.length + doc.length + thumb.length, 'the scan reads every upload');
        for (const [what, bytes] of [
          ['the image', photo],
          ['the document', doc],
          ['the thumbnail', thumb],
        ] as const)
          for (const at of [0, Math.floor(bytes.length / 2), bytes.length - 64])
            assert.equal(media.indexOf(bytes.subarray(at, at + 64)), -1, `${what} (bytes ${at}..) in the media store`);
        const dbFiles = ['switchboard.db', 'switchboard.db-wal'].map((f) => path.join(srv.dataDir, f)).filter(existsSync);
        const db = Buffer.concat(dbFiles.map((f) => readFileSync(f)));
        for (const text of ['map.png', 'ledger.pdf', caption]) assert.equal(db.indexOf(Buffer.from(text)), -1, `"${text}" in the database`);

        // Closing the chat revokes the Blob URLs; opened again after a reload, both show and download again.
        for (const url of [thumbUrl, fullUrl]) assert.equal(await loadsAsImage(b.page, url), true, `${url} live while shown`);
        await b.page.evaluate(() => {
          history.pushState(null, '', '/');
          dispatchEvent(new PopStateEvent('popstate'));
        });
        await bLog.waitFor({ state: 'detached' });
        for (const url of [thumbUrl, fullUrl]) assert.equal(await loadsAsImage(b.page, url), false, `${url} revoked`);
        await b.page.goto(`/chat/${encodeURIComponent(chatId)}`);
        await shown(messages(b.page, caption).getByRole('img', { name: 'map.png', exact: true }));
        await download();
      } finally {
        await a.ctx.close();
        await b.ctx.close();
      }
    },
  );

  test(
    'a tab without encryption acknowledges no ciphertext: what came while the encrypting tab was closed is replayed to the next one, which decrypts it',
    opts,
    async () => {
      const a = await newPage(browser, srv.baseUrl);
      const b = await newPage(browser, srv.baseUrl);
      try {
        await register(a.page, 'gus');
        await register(b.page, 'hal');
        const chatId = await encryptedChat(srv, a.page, b.page, 'hal');
        const hello = 'before the second tab';
        plaintexts.push(hello);
        await send(a.page, hello);
        await b.page.getByRole('link', { name: /^gus/ }).click();
        await messages(b.page, hello).waitFor();
        const chatUrl = b.page.url();
        // A second tab of Hal's browser is the same device, without encryption (the first tab has it).
        const b2 = await b.ctx.newPage();
        await b2.goto(chatUrl);
        await b2.getByText('Encrypted chats are open in another tab of this browser.').waitFor();
        await messages(b2, hello).waitFor();

        // The encrypting tab closes; a ciphertext then reaches the other tab only, which cannot open it.
        await b.page.close();
        const secret = 'sent while the encrypting tab was closed';
        plaintexts.push(secret);
        await send(a.page, secret);
        await messages(a.page, secret).getByRole('img', { name: 'sent' }).waitFor();
        await b2.getByRole('log', { name: 'Chat history' }).locator('li.msg').filter({ hasText: 'Encrypted message' }).waitFor();
        // It acknowledges nothing of it, neither delivered nor read (its tab is on screen): the server still owes it to Hal's device.
        const token = await tokenOf(a.page);
        const page = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chatId)}/messages`, { token });
        const last = (page.body as { messages: { message_id: string }[] }).messages.at(-1)!;
        const receipt = async () =>
          (
            (await http(srv.baseUrl, 'GET', `/v1/messages/${encodeURIComponent(last.message_id)}/receipts`, { token })).body as {
              receipts: { delivered_at: number | null; read_at: number | null }[];
            }
          ).receipts[0]!;
        await new Promise((r) => setTimeout(r, 1000)); // longer than the server holds a direct chat's acks
        const before = await receipt();
        assert.equal(before.delivered_at, null, 'not delivered to any device of hal');
        assert.equal(before.read_at, null);
        assert.equal(await messages(a.page, secret).getByRole('img', { name: 'sent' }).count(), 1, 'the tick stays at sent');

        // The next tab of that browser runs encryption: the ciphertext is replayed to it, and it decrypts it.
        const b3 = await b.ctx.newPage();
        await b3.goto(chatUrl);
        await messages(b3, secret).waitFor();
        await messages(b2, secret).waitFor();
        await messages(a.page, secret).getByRole('img', { name: 'read' }).waitFor();
        assert.notEqual((await receipt()).delivered_at, null);
        const dbFiles = ['switchboard.db', 'switchboard.db-wal'].map((f) => path.join(srv.dataDir, f)).filter(existsSync);
        const db = Buffer.concat(dbFiles.map((f) => readFileSync(f)));
        for (const text of [hello, secret]) assert.equal(db.indexOf(Buffer.from(text)), -1, `"${text}" in the database`);
      } finally {
        await a.ctx.close();
        await b.ctx.close();
      }
    },
  );
});
