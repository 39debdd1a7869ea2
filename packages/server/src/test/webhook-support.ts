import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http, TestSocket, type TestUser } from '../testing/harness.js';

export const ADMIN_TOKEN = 'webhook-test-admin-token-0123456789abcdef';
/** Small delays so retries happen within a test (WEBHOOK_RETRY_BASE_MS is meant for this). */
export const FAST_WEBHOOKS = {
  WEBHOOK_POLL_MS: '50',
  WEBHOOK_RETRY_BASE_MS: '100',
  WEBHOOK_RETRY_MAX_MS: '500',
  WEBHOOK_LEASE_MS: '2000',
  ADMIN_TOKEN,
};

export interface Delivery {
  id: string;
  type: string;
  created_at: number;
  data: any;
  /** The signature checked against the secret, here, as a receiver would. */
  signed: boolean;
  eventIdHeader: string | undefined;
  contentType: string | undefined;
  /** Which server port it came from is unknown to a receiver; the test counts by id. */
}

/**
 * A webhook receiver on a loopback port: it answers `status()` (500 while failing) and
 * keeps every delivery it answered 2xx, checking each signature as PROTOCOL.md describes.
 */
export class Receiver {
  readonly accepted: Delivery[] = [];
  attempts = 0;
  refused = 0;
  secret = '';
  failing = false;
  private server!: Server;
  url = '';

  static async start(): Promise<Receiver> {
    const r = new Receiver();
    r.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        r.attempts++;
        if (r.failing) {
          r.refused++;
          res.writeHead(500).end('down');
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        const event = JSON.parse(body) as { id: string; type: string; created_at: number; data: unknown };
        r.accepted.push({
          ...event,
          signed: verify(r.secret, String(req.headers['switchboard-signature'] ?? ''), body),
          eventIdHeader: req.headers['switchboard-event-id'] as string | undefined,
          contentType: req.headers['content-type'],
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', () => resolve()));
    r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hook`;
    return r;
  }

  /** Accepted deliveries, one per event id (receivers drop repeats by id). */
  unique(): Map<string, Delivery> {
    return new Map(this.accepted.map((d) => [d.id, d]));
  }

  of(type: string): Delivery[] {
    return [...this.unique().values()].filter((d) => d.type === type);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The check a receiver makes: v1 = HMAC-SHA256(secret, t + "." + body). */
export function verify(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  if (!parts.t || !parts.v1) return false;
  const want = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function addWebhook(baseUrl: string, receiver: Receiver, events?: string[]): Promise<string> {
  const res = await http(baseUrl, 'POST', '/v1/admin/webhooks', { token: ADMIN_TOKEN, body: { url: receiver.url, events } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.match(res.body.secret, /^whsec_[0-9a-f]{64}$/);
  receiver.secret = res.body.secret as string;
  return res.body.webhook_id as string;
}

/** Sends in a chat and answers the ack. */
export async function send(s: TestSocket, chatId: string, content: string) {
  const ack = await s.sendMessage(chatId, content);
  assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
  return ack;
}

export async function edit(s: TestSocket, chatId: string, messageId: string, content: string) {
  const clientMsgId = `e-${Math.random().toString(36).slice(2)}`;
  s.send({ type: 'edit_message', chat_id: chatId, client_msg_id: clientMsgId, message_id: messageId, content });
  const ack = await s.nextWhere((f) => (f.type === 'ack_sent' || f.type === 'error') && f.client_msg_id === clientMsgId, 10_000);
  assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
}

export async function createGroup(baseUrl: string, owner: TestUser, members: TestUser[], name: string) {
  const res = await http(baseUrl, 'POST', '/v1/groups', { token: owner.token, body: { name, member_ids: members.map((m) => m.user_id) } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { group_id: string; chat_id: string };
}
