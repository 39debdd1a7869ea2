import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { http, startTestServer, type TestServer } from '@switchboard/server/testing';
import { eventually, launch, messages, newPage, register, repoRoot, send, skipReason, startChat } from './support.js';

/*
 * Messages that live, in the browser (PROTOCOL.md "Message lifecycle"): reply, react, edit,
 * delete for everyone, "@" mentions, and pin / mute / archive in the chat list, each found by
 * its accessible name, against a real server in real Chromium.
 */

const skip = skipReason();
const opts = { skip: skip ?? false };

/** Opens a message's "Message actions" menu (hovering first, as a person with a mouse does). */
async function actions(page: Page, text: string) {
  const row = messages(page, text);
  await row.hover();
  await row.getByRole('button', { name: 'Message actions' }).click();
  return page.getByRole('menu');
}

async function choose(page: Page, text: string, item: string): Promise<void> {
  const menu = await actions(page, text);
  await menu.getByRole('menuitem', { name: item, exact: true }).click();
}

/** "Edit" from a message's menu, once the composer holds its text (as a person waits to see it). */
async function startEdit(page: Page, text: string): Promise<void> {
  await choose(page, text, 'Edit');
  await eventually(async () => (await page.getByLabel('Message').inputValue()) === text, 5000, 'the text to edit in the composer');
}

const tokenOf = (page: Page) => page.evaluate(() => JSON.parse(localStorage.getItem('switchboard.session') ?? '{}').token as string);

describe('web client: messages that live', () => {
  let srv: TestServer;
  let browser: Browser;

  before(async () => {
    if (skip) return;
    srv = await startTestServer();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test('reply (the quote jumps to the message), react, edit, delete for everyone, @ mentions', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'lena');
      await register(b.page, 'milo');
      await startChat(a.page, 'milo');
      await send(a.page, 'Dinner at 7?');
      await b.page.getByRole('link', { name: 'lena' }).click();
      await messages(b.page, 'Dinner at 7?').waitFor();

      // Someone else's message offers no Edit and no Delete for everyone, and can be reported.
      const theirs = await actions(b.page, 'Dinner at 7?');
      assert.deepEqual(await theirs.getByRole('menuitem').allTextContents(), ['Reply', 'React', 'Copy', 'Report']);
      await b.page.keyboard.press('Escape');
      await theirs.waitFor({ state: 'detached' });

      // Reply: the composer says to whom; both sides show the quote above the answer.
      await choose(b.page, 'Dinner at 7?', 'Reply');
      await b.page.getByText('Replying to lena').waitFor();
      await send(b.page, 'Sounds great, where?');
      await b.page.getByText('Replying to lena').waitFor({ state: 'detached' });
      await messages(b.page, 'Sounds great, where?').getByRole('button', { name: 'Quoted message from lena' }).waitFor();
      const quote = messages(a.page, 'Sounds great, where?').getByRole('button', { name: 'Quoted message from You' });
      await quote.waitFor();
      assert.equal(await quote.locator('.quote-text').getAttribute('data-text'), 'Dinner at 7?');
      await quote.click();
      await a.page.locator('li.msg.highlight').filter({ hasText: 'Dinner at 7?' }).waitFor();

      // React through the menu; the chip counts, and a click on it toggles one's own.
      await choose(b.page, 'Dinner at 7?', 'React');
      await b.page.getByRole('menu', { name: 'Reactions' }).getByRole('menuitem', { name: '👍' }).click();
      const chip = (page: Page, name: string) => messages(page, 'Dinner at 7?').getByRole('button', { name, exact: true });
      await chip(a.page, '👍 1').waitFor();
      assert.equal(await chip(b.page, '👍 1').getAttribute('aria-pressed'), 'true', "milo's own reaction is marked");
      await chip(a.page, '👍 1').click();
      await chip(a.page, '👍 2').waitFor();
      await chip(b.page, '👍 2').waitFor();
      await chip(a.page, '👍 2').click();
      await chip(b.page, '👍 1').waitFor();

      // Edit one's own message: the composer holds its text; both sides show the new text, "edited".
      await choose(a.page, 'Dinner at 7?', 'Edit');
      const box = a.page.getByLabel('Message');
      await eventually(async () => (await box.inputValue()) === 'Dinner at 7?', 5000, 'the text to edit in the composer');
      await box.fill('Dinner at 8?');
      await a.page.getByRole('button', { name: 'Save' }).click();
      for (const page of [a.page, b.page]) {
        await messages(page, 'Dinner at 8?').getByText('edited', { exact: true }).waitFor();
        assert.equal(await messages(page, 'Dinner at 7?').count(), 0);
      }
      await messages(b.page, 'Dinner at 8?').getByRole('button', { name: '👍 1', exact: true }).waitFor(); // an edit keeps the reactions

      // The menu works from the keyboard: Enter opens it on its first item, arrows move, Escape closes.
      const row = messages(a.page, 'Sounds great, where?');
      await row.getByRole('button', { name: 'Message actions' }).focus();
      await a.page.keyboard.press('Enter');
      await eventually(async () => (await a.page.evaluate(() => document.activeElement?.textContent)) === 'Reply', 5000, 'focus on Reply');
      await a.page.keyboard.press('ArrowDown');
      assert.equal(await a.page.evaluate(() => document.activeElement?.textContent), 'React');
      await a.page.keyboard.press('Escape');
      await a.page.getByRole('menu').waitFor({ state: 'detached' });

      // Delete for everyone: the text goes on both sides, and so does the quote of it.
      await choose(a.page, 'Dinner at 8?', 'Delete for everyone');
      for (const page of [a.page, b.page]) {
        await page.getByRole('log', { name: 'Chat history' }).getByText('This message was deleted', { exact: true }).waitFor();
        await eventually(
          async () =>
            (await messages(page, 'Sounds great, where?').locator('.quote-text').getAttribute('data-text')) === 'This message was deleted',
          10_000,
          'the quote of the deleted message to go',
        );
        assert.equal(await page.getByText('Dinner at 8?').count(), 0);
      }

      // "@" completion: typing "@mi" offers milo; Enter takes it and the message carries the mention.
      await box.pressSequentially('see you @mi');
      await a.page.getByRole('listbox', { name: 'Mention' }).getByRole('option', { name: 'milo' }).waitFor();
      await box.press('Enter');
      await eventually(async () => (await box.inputValue()) === 'see you @milo ', 5000, 'the completed mention');
      await box.pressSequentially('there');
      await a.page.getByRole('button', { name: 'Send' }).click();
      await messages(b.page, 'see you @milo there').waitFor();
      const token = await tokenOf(b.page);
      const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token });
      const chats = await http(srv.baseUrl, 'GET', '/v1/chats', { token });
      const page = await http(srv.baseUrl, 'GET', `/v1/chats/${encodeURIComponent(chats.body.chats[0].chat_id)}/messages`, { token });
      const sent = (page.body.messages as { content: string; mentions?: string[] }[]).find((m) => m.content === 'see you @milo there');
      assert.deepEqual(sent?.mentions, [me.body.user_id]);
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('the chat list: pin puts a chat on top, archive moves it to "Archived", mute marks it; all kept by the server', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    const c = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'pia');
      await register(b.page, 'paul');
      await register(c.page, 'petra');
      await startChat(b.page, 'pia');
      await send(b.page, 'from paul');
      await startChat(c.page, 'pia');
      await send(c.page, 'from petra');
      const list = a.page.getByRole('navigation', { name: 'Chat list' });
      const names = () => list.getByRole('link').allTextContents();
      await eventually(async () => (await names()).length === 2 && (await names())[0]!.includes('petra'), 10_000, 'petra on top');

      await a.page.getByRole('button', { name: 'Options for paul' }).click();
      await a.page.getByRole('menuitem', { name: 'Pin', exact: true }).click();
      await eventually(async () => (await names())[0]!.includes('paul'), 10_000, 'the pinned chat on top');
      // A new message elsewhere does not push a pinned chat down.
      await send(c.page, 'still me');
      await a.page.getByRole('link', { name: /petra \(2 new\)/ }).waitFor();
      assert.match((await names())[0]!, /paul/);

      await a.page.getByRole('button', { name: 'Options for paul' }).click();
      await a.page.getByRole('menuitem', { name: 'Mute', exact: true }).click();
      await a.page.getByRole('link', { name: 'paul' }).locator('.flag[title="Muted"]').waitFor();

      await a.page.getByRole('button', { name: /^Options for petra/ }).click();
      await a.page.getByRole('menuitem', { name: 'Archive', exact: true }).click();
      await a.page.getByRole('link', { name: /petra/ }).waitFor({ state: 'detached' });
      await a.page.getByRole('button', { name: 'Archived (1)' }).click();
      await a.page.getByRole('list', { name: 'Archived chats' }).getByRole('link', { name: /petra/ }).waitFor();

      // The server keeps it: after a reload, the same list.
      await a.page.reload();
      await a.page.getByRole('button', { name: 'Archived (1)' }).waitFor();
      assert.match((await names())[0]!, /paul/);
      await a.page.getByRole('link', { name: 'paul' }).locator('.flag[title="Pinned"]').waitFor();
      await a.page.getByRole('button', { name: 'Options for paul' }).click();
      assert.deepEqual(await a.page.getByRole('menu').getByRole('menuitem').allTextContents(), ['Unpin', 'Unmute', 'Archive']);
      await a.page.getByRole('menuitem', { name: 'Unpin', exact: true }).click();
      await a.page.getByRole('link', { name: 'paul' }).locator('.flag[title="Pinned"]').waitFor({ state: 'detached' });
    } finally {
      for (const x of [a, b, c]) await x.ctx.close();
    }
  });

  test("in a group the admin may delete anyone's message for everyone; a member only their own", opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'ada');
      await register(b.page, 'ben');
      await a.page.getByRole('button', { name: 'New group' }).click();
      await a.page.getByLabel('Group name').fill('Climbing');
      await a.page.getByLabel('Members').fill('ben');
      await a.page.getByRole('button', { name: 'Create group' }).click();
      await send(a.page, 'Saturday at the crag?');
      await b.page.getByRole('link', { name: 'Climbing' }).click();
      await messages(b.page, 'Saturday at the crag?').waitFor();
      await send(b.page, 'buy cheap watches here');
      await messages(a.page, 'buy cheap watches here').waitFor();

      const member = await actions(b.page, 'Saturday at the crag?');
      assert.deepEqual(await member.getByRole('menuitem').allTextContents(), ['Reply', 'React', 'Copy', 'Report']);
      await b.page.keyboard.press('Escape');
      const admin = await actions(a.page, 'buy cheap watches here');
      assert.deepEqual(await admin.getByRole('menuitem').allTextContents(), ['Reply', 'React', 'Delete for everyone', 'Copy', 'Report']);
      await admin.getByRole('menuitem', { name: 'Delete for everyone' }).click();
      for (const page of [a.page, b.page]) {
        await page.getByRole('log', { name: 'Chat history' }).getByText('This message was deleted', { exact: true }).waitFor();
        assert.equal(await page.getByText('buy cheap watches here').count(), 0);
      }
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('the Info of a group message: "Delivered to N of M" and "Read by N of M", live as members get and read it', opts, async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => newPage(browser, srv.baseUrl)));
    try {
      await register(a!.page, 'ivy');
      await register(b!.page, 'ian');
      await register(c!.page, 'ida');
      // ida's tab is closed: her device is offline (the session stays in the browser's storage).
      await c!.page.close();
      await a!.page.getByRole('button', { name: 'New group' }).click();
      await a!.page.getByLabel('Group name').fill('Counts');
      await a!.page.getByLabel('Members').fill('ian, ida');
      await a!.page.getByRole('button', { name: 'Create group' }).click();
      await send(a!.page, 'who has this?');
      await b!.page.getByRole('link', { name: 'Counts' }).click();
      await messages(b!.page, 'who has this?').waitFor();

      const info = a!.page.getByRole('group', { name: 'Message info' });
      await choose(a!.page, 'who has this?', 'Info');
      await info.getByText('Delivered to 1 of 2').waitFor();
      await info.getByText('Read by 1 of 2').waitFor();
      // Others' messages have no Info.
      await send(b!.page, 'not yours');
      const theirs = await actions(a!.page, 'not yours');
      assert.ok(!(await theirs.getByRole('menuitem').allTextContents()).includes('Info'));
      await a!.page.keyboard.press('Escape');

      // ida comes back: her device gets the message (2 of 2), then she reads it.
      const again = await c!.ctx.newPage();
      await again.goto('/');
      await info.getByText('Delivered to 2 of 2').waitFor();
      await info.getByText('Read by 1 of 2').waitFor();
      await again.getByRole('link', { name: 'Counts' }).click();
      await messages(again, 'who has this?').waitFor();
      await info.getByText('Read by 2 of 2').waitFor();
      await a!.page.getByRole('button', { name: 'Close info' }).click();
      await info.waitFor({ state: 'detached' });
    } finally {
      for (const x of [a, b, c]) await x?.ctx.close();
    }
  });

  test('a change made in one tab shows in the other tabs of the browser (one device: the server does not echo it)', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'tess');
      await register(b.page, 'theo');
      await startChat(b.page, 'tess');
      await send(b.page, 'did you get the tickets?');
      const tab2 = await a.ctx.newPage();
      await tab2.goto('/');
      for (const page of [a.page, tab2]) {
        await page.getByRole('link', { name: /theo/ }).click();
        await messages(page, 'did you get the tickets?').waitFor();
      }
      await choose(a.page, 'did you get the tickets?', 'React');
      await a.page.getByRole('menu', { name: 'Reactions' }).getByRole('menuitem', { name: '😂' }).click();
      await messages(tab2, 'did you get the tickets?').getByRole('button', { name: '😂 1' }).waitFor();
      await messages(b.page, 'did you get the tickets?').getByRole('button', { name: '😂 1' }).waitFor();
      await tab2.getByRole('button', { name: 'Options for theo' }).click();
      await tab2.getByRole('menuitem', { name: 'Pin', exact: true }).click();
      await a.page.getByRole('link', { name: 'theo' }).locator('.flag[title="Pinned"]').waitFor();
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('an edit that arrives while the chat is loading is applied to the page that was on its way', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'rita');
      await register(b.page, 'rob');
      await startChat(a.page, 'rob');
      await send(a.page, 'meet at the station');
      await b.page.getByRole('link', { name: /rita/ }).waitFor();
      // Rob opens the chat; its history is answered before the edit, but reaches the page only after it.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let fetched!: () => void;
      const answered = new Promise<void>((r) => (fetched = r));
      await b.page.route(
        (url) => url.pathname.endsWith('/messages'),
        async (route) => {
          const response = await route.fetch();
          fetched();
          await gate;
          await route.fulfill({ response });
        },
      );
      await b.page.getByRole('link', { name: /rita/ }).click();
      await answered;
      await startEdit(a.page, 'meet at the station');
      await a.page.getByLabel('Message').fill('meet at the bridge');
      await a.page.getByRole('button', { name: 'Save' }).click();
      // The update has reached rob's app (the chat list's preview shows it) while the page is still held.
      await b.page.locator('.chat.current .preview[data-text="meet at the bridge"]').waitFor();
      release();
      await messages(b.page, 'meet at the bridge').getByText('edited', { exact: true }).waitFor();
      assert.equal(await messages(b.page, 'meet at the station').count(), 0);
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('docs/screenshot.png: a conversation with an edit, a reply and reactions', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'alice');
      await register(b.page, 'bob');
      await a.page.getByRole('button', { name: 'New group' }).click();
      await a.page.getByLabel('Group name').fill('Book club');
      await a.page.getByLabel('Members').fill('bob');
      await a.page.getByRole('button', { name: 'Create group' }).click();
      await send(a.page, 'Next month: The Left Hand of Darkness');
      await startChat(b.page, 'alice');
      await send(b.page, 'Are we still on for dinner tonight?');
      await a.page.getByRole('link', { name: /^bob/ }).click();
      await send(a.page, "Yes! I booked a table at Luigi's for 7:30");
      await startEdit(a.page, "Yes! I booked a table at Luigi's for 7:30");
      await a.page.getByLabel('Message').fill("Yes! I booked a table at Luigi's for 8:00");
      await a.page.getByRole('button', { name: 'Save' }).click();
      const booked = "Yes! I booked a table at Luigi's for 8:00";
      await messages(b.page, booked).getByText('edited', { exact: true }).waitFor();
      await choose(b.page, booked, 'React');
      await b.page.getByRole('menu', { name: 'Reactions' }).getByRole('menuitem', { name: '👍' }).click();
      await choose(b.page, booked, 'Reply');
      await send(b.page, "Perfect, I'll pick you up at 7:45");
      await messages(a.page, "Perfect, I'll pick you up at 7:45").waitFor();
      await choose(a.page, "Perfect, I'll pick you up at 7:45", 'React');
      await a.page.getByRole('menu', { name: 'Reactions' }).getByRole('menuitem', { name: '❤️' }).click();
      await messages(b.page, "Perfect, I'll pick you up at 7:45").getByRole('button', { name: '❤️ 1' }).waitFor();
      await messages(a.page, booked).getByRole('button', { name: '👍 1' }).waitFor();
      await a.page.getByRole('button', { name: 'Options for bob' }).click();
      await a.page.getByRole('menuitem', { name: 'Pin', exact: true }).click();
      await a.page.getByRole('link', { name: 'bob' }).locator('.flag[title="Pinned"]').waitFor();
      await a.page.mouse.move(500, 600); // nothing hovered, no focus ring on a menu button
      await a.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await a.page.screenshot({ path: path.join(repoRoot, 'docs/screenshot.png') });
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });
});
