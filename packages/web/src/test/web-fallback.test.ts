import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { eventually, launch, messages, newPage, register, send, skipReason, startChat } from './support.js';

/*
 * The web client without WebSockets (PROTOCOL.md "Without WebSockets"): a page whose
 * WebSocket is gone (as behind a proxy or a policy that blocks it) chats through the SDK's
 * fallback, Server-Sent Events and POSTs, with someone on a normal page.
 */

const skip = skipReason();
if (skip) console.log(`web client fallback test skipped: ${skip}`);
const opts = { skip: skip ?? false };

describe('web client without WebSockets', () => {
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

  test('a page with no WebSocket chats over Server-Sent Events: messages both ways, read ticks, presence', opts, async () => {
    const a = await newPage(browser, srv.baseUrl);
    // Taken away before the app's scripts run, on every page load of this context.
    await a.ctx.addInitScript(() => {
      (window as unknown as { WebSocket?: unknown }).WebSocket = undefined;
    });
    await a.page.reload();
    const b = await newPage(browser, srv.baseUrl);
    try {
      const sockets: string[] = [];
      const streams: string[] = [];
      a.page.on('websocket', (ws) => sockets.push(ws.url()));
      a.page.on('request', (req) => {
        if (new URL(req.url()).pathname.startsWith('/v1/events')) streams.push(`${req.method()} ${req.headers()['accept'] ?? ''}`);
      });
      await register(a.page, 'noah');
      await register(b.page, 'bea');
      await startChat(a.page, 'bea');
      await send(a.page, 'hello over http');
      await messages(a.page, 'hello over http')
        .getByRole('img', { name: /^(sent|delivered)$/ })
        .waitFor();
      const chat = b.page.getByRole('link', { name: 'noah' });
      await chat.waitFor();
      await chat.click();
      await messages(b.page, 'hello over http').waitFor();
      await messages(a.page, 'hello over http').getByRole('img', { name: 'read' }).waitFor();
      await send(b.page, 'and back to you');
      await messages(a.page, 'and back to you').waitFor();
      await b.page.getByText('online', { exact: true }).waitFor();

      assert.deepEqual(sockets, [], 'no WebSocket was opened');
      await eventually(async () => streams.some((s) => s.startsWith('GET text/event-stream')), 5000, 'an event stream');
      assert.ok(
        streams.some((s) => s.startsWith('POST')),
        `frames were POSTed: ${streams.join(', ')}`,
      );
    } finally {
      await a.ctx.close();
      await b.ctx.close();
    }
  });
});
