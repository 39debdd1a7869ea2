import type { ServerFrame } from '@switchboard/protocol';

type AckSent = Extract<ServerFrame, { type: 'ack_sent' }>;

/** A send_message frame as the outbox keeps it. */
export type SendFrame = {
  type: 'send_message';
  chat_id: string;
  client_msg_id: string;
  content: string;
  attachments?: { media_id: string }[];
  reply_to?: string;
  mentions?: string[];
  forwarded?: true;
};

/** An edit, delete or reaction (PROTOCOL.md "Message lifecycle"): kept and resent exactly like a send. */
export type ChangeFrame =
  | { type: 'edit_message'; chat_id: string; client_msg_id: string; message_id: string; content: string }
  | { type: 'delete_message'; chat_id: string; client_msg_id: string; message_id: string }
  | { type: 'react'; chat_id: string; client_msg_id: string; message_id: string; emoji: string };

export type OutboxFrame = SendFrame | ChangeFrame;

interface PendingSend {
  frame: OutboxFrame;
  resolve: (ack: AckSent) => void;
  reject: (err: Error) => void;
}

/**
 * Sends (and changes: edits, deletes, reactions) not yet acknowledged, by client_msg_id, in the order they were made: what is
 * resent (in that order) after every reconnect, until an ack_sent or a refusal settles it.
 * Sending the same client_msg_id again while it is pending joins the first send.
 */
export class Outbox {
  private readonly pending = new Map<string, PendingSend>();

  /** Queues a send; resolves with its ack_sent. */
  add(frame: OutboxFrame): Promise<AckSent> {
    const existing = this.pending.get(frame.client_msg_id);
    if (existing) {
      return new Promise((resolve, reject) => {
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (a) => (r0(a), resolve(a));
        existing.reject = (e) => (j0(e), reject(e));
      });
    }
    return new Promise<AckSent>((resolve, reject) => this.pending.set(frame.client_msg_id, { frame, resolve, reject }));
  }

  /** Whether this send is still waiting for its answer. */
  has(clientMsgId: string): boolean {
    return this.pending.has(clientMsgId);
  }

  /** The frame of a pending send, to send it again. */
  frame(clientMsgId: string): OutboxFrame | undefined {
    return this.pending.get(clientMsgId)?.frame;
  }

  /** Every pending frame, oldest first. */
  frames(): OutboxFrame[] {
    return [...this.pending.values()].map((p) => p.frame);
  }

  /** The server stored it: settles the send. */
  acked(ack: AckSent): void {
    const p = this.pending.get(ack.client_msg_id);
    if (!p) return;
    this.pending.delete(ack.client_msg_id);
    p.resolve(ack);
  }

  /** The server refused it for good: rejects the send. False when no such send is pending. */
  refused(clientMsgId: string, err: Error): boolean {
    const p = this.pending.get(clientMsgId);
    if (!p) return false;
    this.pending.delete(clientMsgId);
    p.reject(err);
    return true;
  }

  /** Rejects every pending send (the client is closing for good). */
  rejectAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
