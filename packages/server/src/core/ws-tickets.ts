import { randomBytes } from 'node:crypto';
import type { WsTicketStore } from '../engines/ws-ticket-store/ws-ticket-store.js';
import type { DeviceRecord, Store } from '../engines/store/store.js';
import { hashToken } from './passwords.js';

export interface WsTicketsDeps {
  tickets: WsTicketStore;
  store: Store;
  ttlMs: number;
  now: () => number;
}

/** Longer than any ticket minted here: refused before it is hashed and looked up. */
const MAX_TICKET_CHARS = 256;

/**
 * Socket tickets (PROTOCOL.md "The socket"): `POST /v1/ws-tickets` mints one for the
 * caller's token, `GET /v1/ws?ticket=` redeems it once. A ticket holds the hash of the
 * token that minted it, not a device id, so redeeming it checks the session again: a
 * ticket of a device revoked (or logged out) since then opens nothing. The store keeps
 * only the ticket's hash, like tokens: reading Redis does not give usable tickets.
 */
export class WsTickets {
  constructor(private readonly deps: WsTicketsDeps) {}

  get ttlMs(): number {
    return this.deps.ttlMs;
  }

  /** A fresh single-use ticket for the session whose token hashes to `tokenHash`. */
  async mint(tokenHash: string): Promise<{ ticket: string; expires_at: number }> {
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = this.deps.now() + this.deps.ttlMs;
    await this.deps.tickets.put(hashToken(ticket), tokenHash, this.deps.ttlMs);
    return { ticket, expires_at: expiresAt };
  }

  /** The device a ticket authenticates, using it up; null when unknown, used, expired or its device is gone. */
  async redeem(ticket: string): Promise<DeviceRecord | null> {
    if (!ticket || ticket.length > MAX_TICKET_CHARS) return null;
    const tokenHash = await this.deps.tickets.take(hashToken(ticket));
    return tokenHash === null ? null : this.deps.store.deviceByTokenHash(tokenHash);
  }
}
