/*
 * The socket-ticket seam (PROTOCOL.md "The socket": `POST /v1/ws-tickets`): short-lived,
 * single-use tickets that let a browser open its socket without a token in the URL.
 * Implementations: InMemoryWsTicketStore (embedded: one process) and RedisWsTicketStore
 * (cluster: a ticket minted on one node is redeemed on any other). Both run
 * ws-ticket-store.contract.ts.
 *
 * Guarantees:
 * - take() is atomic: of any number of concurrent takes of one ticket, on any node, at
 *   most one gets its value; every later take gets null.
 * - A ticket not taken within its TTL is gone (take answers null).
 * - Keys are opaque strings (the caller passes a hash of the ticket, never the ticket).
 */
export interface WsTicketStore {
  /** Stores `value` under `key` for `ttlMs`. */
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /** The value stored under `key`, removing it; null when unknown, already taken or expired. */
  take(key: string): Promise<string | null>;
  close(): Promise<void>;
}
