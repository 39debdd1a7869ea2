import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { http, type TestUser } from '../testing/harness.js';

/* Socket tickets (PROTOCOL.md "The socket"): minting one, and what an upgrade with one answers. */

/** POST /v1/ws-tickets as `u`; asserts the 201 and its shape. */
export async function mintTicket(baseUrl: string, u: TestUser, ttlMs = 30_000): Promise<string> {
  const before = Date.now();
  const res = await http<{ ticket: string; expires_at: number }>(baseUrl, 'POST', '/v1/ws-tickets', { token: u.token });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(typeof res.body.ticket, 'string');
  assert.ok(res.body.ticket.length >= 32, 'a ticket is long enough not to be guessed');
  assert.ok(
    res.body.expires_at >= before + ttlMs - 1000 && res.body.expires_at <= Date.now() + ttlMs + 1000,
    `expires_at ${res.body.expires_at} is about ${ttlMs} ms from now`,
  );
  return res.body.ticket;
}

export function ticketUrl(wsUrl: string, ticket: string): string {
  return `${wsUrl}?ticket=${encodeURIComponent(ticket)}`;
}

/** What an upgrade to `url` answers: 101 when it opened (the socket is closed again), else the HTTP status and body. */
export function upgradeAnswer(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    ws.once('error', reject); // a no-op once answered
  });
}

/** Asserts that an upgrade to `url` is refused with 401 {error:"unauthorized"} before it opens. */
export async function assertRefused(url: string, what: string): Promise<void> {
  const answer = await upgradeAnswer(url);
  assert.equal(answer.status, 401, `${what}: ${JSON.stringify(answer)}`);
  assert.equal(JSON.parse(answer.body).error, 'unauthorized', what);
}
