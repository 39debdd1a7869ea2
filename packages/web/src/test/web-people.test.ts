import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { http, startTestServer, type TestServer } from '@switchboard/server/testing';
import { zeroPng } from '@switchboard/server/testing/zero-png';
import { eventually, launch, messages, newPage, register, send, skipReason, startChat } from './support.js';

/*
 * The web client's people features end to end (PROTOCOL.md "People"): profiles and avatars,
 * finding users by username prefix, contacts, blocking and reports, each checked on the
 * other person's screen or on the server (the operator's report listing).
 */

const skip = skipReason();
if (skip) console.log(`web client people tests skipped: ${skip}`);
const opts = { skip: skip ?? false };
const ADMIN_TOKEN = 'admin-token-for-web-tests-0123456789abcdef';

/** The session token the page keeps, for checking what the server holds. */
async function tokenOf(page: Page): Promise<string> {
  const token = await page.evaluate(() => (JSON.parse(localStorage.getItem('switchboard.session') ?? '{}') as { token?: string }).token);
  assert.ok(token, 'logged in');
  return token;
}

/** An <img> inside `scope` that the browser has loaded (a real image, not a broken link). */
async function loadedImage(scope: Locator, what: string): Promise<void> {
  const img = scope.locator('img.avatar');
  await img.waitFor();
  await eventually(
    async () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0),
    10_000,
    what,
  );
}

async function registerByApi(baseUrl: string, username: string, displayName: string): Promise<void> {
  const res = await http(baseUrl, 'POST', '/v1/users', {
    body: { username, password: 'correct horse battery', display_name: displayName },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

describe('web client: people', () => {
  let srv: TestServer;
  let browser: Browser;

  before(async () => {
    if (skip) return;
    srv = await startTestServer({ rateLimits: false, adminToken: ADMIN_TOKEN });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test('profile: display name, about and an avatar; the other person sees the avatar in the chat list and the header', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    const b = await newPage(browser, srv.baseUrl);
    try {
      await register(a.page, 'kira');
      await register(b.page, 'leon');
      await startChat(a.page, 'leon');
      await send(a.page, 'hi leon');
      // No avatar yet: the first letter of the name stands in for it.
      const fromKira = b.page.getByRole('link', { name: 'kira' });
      await fromKira.waitFor();
      assert.equal(await fromKira.locator('.avatar').textContent(), 'K');
      assert.equal(await fromKira.locator('img.avatar').count(), 0);

      await a.page.getByRole('button', { name: 'Profile', exact: true }).click();
      const profile = a.page.getByRole('region', { name: 'Profile' });
      await profile.getByLabel('Display name').fill('Kira Kowalska');
      await profile.getByLabel('About').fill('Climbing and tea');
      await profile.getByRole('button', { name: 'Save profile' }).click();
      await profile.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
      await a.page.locator('.who-am-i').getByText('Kira Kowalska').waitFor();

      const png = zeroPng(96, 96, { bits: 8, colorType: 2, interlaced: false });
      await profile.getByLabel('Upload avatar').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png });
      await profile.getByRole('button', { name: 'Remove avatar' }).waitFor();
      await loadedImage(a.page.locator('.who-am-i'), 'my avatar in the sidebar');

      // The server has it, with its thumbnail, for anyone signed in.
      const me = await http(srv.baseUrl, 'GET', '/v1/users/me', { token: await tokenOf(a.page) });
      assert.equal(me.body.display_name, 'Kira Kowalska');
      assert.equal(me.body.about, 'Climbing and tea');
      assert.ok(me.body.avatar?.media_id, JSON.stringify(me.body));

      // Leon's app fetches the profile anew (a reload, or opening the chat): the avatar shows in his list and header.
      await b.page.reload();
      const chat = b.page.getByRole('link', { name: 'Kira Kowalska' });
      await loadedImage(chat, 'the avatar in the chat list');
      await chat.click();
      await messages(b.page, 'hi leon').waitFor();
      await loadedImage(b.page.locator('.conv-bar'), 'the avatar in the chat header');
      await b.page.locator('.conv-bar').getByText('Kira Kowalska').waitFor();

      // Taking the avatar away brings the initial back.
      await profile.getByRole('button', { name: 'Remove avatar' }).click();
      await profile.getByLabel('Upload avatar').waitFor();
      assert.equal(await a.page.locator('.who-am-i img.avatar').count(), 0);
      assert.equal(await a.page.locator('.who-am-i .avatar').textContent(), 'K');
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });

  test('a slow answer to the start’s GET /v1/users/me does not undo a profile saved meanwhile', opts, async () => {
    const { ctx, page } = await newPage(browser, srv.baseUrl);
    try {
      // Hold the app's first read of its own profile until the profile has been saved.
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let held = 0;
      await page.route('**/v1/users/me', async (route) => {
        if (route.request().method() !== 'GET' || held++ > 0) return route.fallback();
        const response = await route.fetch();
        await released;
        await route.fulfill({ response });
      });
      await register(page, 'nadia');
      await page.getByRole('button', { name: 'Profile', exact: true }).click();
      const profile = page.getByRole('region', { name: 'Profile' });
      await profile.getByLabel('Display name').fill('Nadia Novak');
      await profile.getByRole('button', { name: 'Save profile' }).click();
      await profile.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
      assert.equal(held, 1, 'the start read its profile');
      release();
      // The old answer (display name "nadia") arrives now; the saved name must stay.
      await page.waitForTimeout(300);
      assert.equal(await page.locator('.who-am-i .me').textContent(), 'Nadia Novak');
    } finally {
      await ctx.close();
    }
  });

  test(
    '"New chat" finds people by the start of their username; a chat starts from a match; contacts are kept on the server',
    opts,
    async () => {
      await registerByApi(srv.baseUrl, 'mara', 'Mara Lind');
      await registerByApi(srv.baseUrl, 'marco', 'Marco Polo');
      await registerByApi(srv.baseUrl, 'maxim', 'Maxim Gorky');
      const a = await newPage(browser, srv.baseUrl);
      try {
        await register(a.page, 'nina');
        await a.page.getByRole('button', { name: 'New chat' }).click();
        // Matches come as one types (after a pause), with names.
        await a.page.getByLabel('Username').pressSequentially('mar', { delay: 30 });
        const found = a.page.getByRole('list', { name: 'People found' });
        await eventually(async () => (await found.getByRole('button').count()) === 2, 10_000, 'two matches for "mar"');
        assert.deepEqual(await found.locator('.name').allTextContents(), ['Mara Lind', 'Marco Polo']);
        await a.page.getByLabel('Username').pressSequentially('c', { delay: 30 });
        await eventually(async () => (await found.getByRole('button').count()) === 1, 10_000, 'one match for "marc"');

        await found.getByRole('button', { name: 'Marco Polo @marco' }).click();
        await a.page.getByRole('region', { name: 'Conversation with Marco Polo' }).waitFor();
        await send(a.page, 'hello marco');
        await messages(a.page, 'hello marco').waitFor();

        await a.page.getByRole('button', { name: 'Add to contacts' }).click();
        await a.page.getByRole('button', { name: 'Add to contacts' }).waitFor({ state: 'detached' });
        const contacts = await http(srv.baseUrl, 'GET', '/v1/users/me/contacts', { token: await tokenOf(a.page) });
        assert.deepEqual(
          contacts.body.users.map((u: { username: string }) => u.username),
          ['marco'],
        );

        // Another device (a reload here) sees the same list; a contact opens its chat.
        await a.page.reload();
        await a.page.getByRole('button', { name: 'Contacts', exact: true }).click();
        const list = a.page.getByRole('list', { name: 'Contact list' });
        await list.getByRole('button', { name: 'Marco Polo @marco' }).click();
        await messages(a.page, 'hello marco').waitFor();
        await a.page.getByRole('button', { name: 'Contacts', exact: true }).click();
        await a.page.getByRole('button', { name: 'Remove Marco Polo from contacts' }).click();
        await a.page.getByText('No contacts yet.', { exact: false }).waitFor();
        const after = await http(srv.baseUrl, 'GET', '/v1/users/me/contacts', { token: await tokenOf(a.page) });
        assert.deepEqual(after.body.users, []);
      } finally {
        await a.ctx.close();
      }
    },
  );

  test(
    'blocking refuses the other person’s messages until unblocked; reports (of a user, of a message) reach the operator',
    opts,
    async () => {
      const a = await newPage(browser, srv.baseUrl);
      const b = await newPage(browser, srv.baseUrl);
      try {
        await register(a.page, 'olga');
        await register(b.page, 'pete');
        await startChat(a.page, 'pete');
        await send(a.page, 'hello pete');
        await b.page.getByRole('link', { name: 'olga' }).click();
        await messages(b.page, 'hello pete').waitFor();

        await a.page.getByRole('button', { name: 'Block', exact: true }).click();
        await a.page.getByRole('button', { name: 'Unblock', exact: true }).waitFor();
        await a.page.getByRole('status').filter({ hasText: 'their messages to you are refused' }).waitFor();

        // Pete's send is refused by the server: marked failed, with the reason.
        await send(b.page, 'are you there?');
        await messages(b.page, 'are you there?').getByRole('img', { name: 'failed' }).waitFor();
        await b.page.getByRole('alert').filter({ hasText: 'does not take your messages' }).waitFor();
        await send(b.page, 'ping');
        await messages(b.page, 'ping').getByRole('img', { name: 'failed' }).waitFor();
        assert.equal(await messages(a.page, 'are you there?').count(), 0, 'a refused message never arrives');

        await a.page.getByRole('button', { name: 'Unblock', exact: true }).click();
        await a.page.getByRole('button', { name: 'Block', exact: true }).waitFor();
        await send(b.page, 'second try');
        await messages(a.page, 'second try').waitFor();

        // Report the user, from the header.
        await a.page.getByRole('button', { name: 'Report', exact: true }).click();
        const form = a.page.getByRole('form', { name: 'Report' });
        await form.getByLabel('Reason').selectOption('abuse');
        await form.getByLabel('Note (optional)').fill('rude messages');
        await form.getByRole('button', { name: 'Submit report' }).click();
        await a.page.getByRole('alert').filter({ hasText: 'Report sent' }).waitFor();
        await form.waitFor({ state: 'detached' });

        // And one of his messages, from its menu.
        const row = messages(a.page, 'second try');
        await row.hover();
        await row.getByRole('button', { name: 'Message actions' }).click();
        await a.page.getByRole('menu').getByRole('menuitem', { name: 'Report', exact: true }).click();
        await form.getByRole('heading').filter({ hasText: 'this message' }).waitFor();
        await form.getByLabel('Reason').selectOption('spam');
        await form.getByRole('button', { name: 'Submit report' }).click();
        await form.waitFor({ state: 'detached' });

        const pete = (await http(srv.baseUrl, 'GET', '/v1/users?username=pete', { token: await tokenOf(a.page) })).body.users[0];
        const olga = (await http(srv.baseUrl, 'GET', '/v1/users?username=olga', { token: await tokenOf(a.page) })).body.users[0];
        const listing = await http(srv.baseUrl, 'GET', '/v1/admin/reports', { token: ADMIN_TOKEN });
        assert.equal(listing.status, 200);
        const mine = (
          listing.body.reports as { reporter_id: string; user_id: string; message_id: string | null; reason: string; note: string | null }[]
        )
          .filter((r) => r.reporter_id === olga.user_id)
          .map((r) => ({ user_id: r.user_id, reason: r.reason, note: r.note, about_message: r.message_id !== null }));
        assert.deepEqual(mine, [
          { user_id: pete.user_id, reason: 'abuse', note: 'rude messages', about_message: false },
          { user_id: pete.user_id, reason: 'spam', note: null, about_message: true },
        ]);
      } finally {
        await a.ctx.close();
        await b.ctx.close();
      }
    },
  );
});
