/*
 * The push seam as core sees it: delivery tells it of every committed message and its
 * recipients; it decides, later and elsewhere (push/dispatcher.ts), which devices have
 * no open socket and wakes each through its provider. Telling it never waits for a
 * provider, so a push never delays an acknowledgement, and a lost push delays delivery
 * but loses nothing: the device replays from its cursors when it connects.
 */
export interface CommittedMessage {
  chatId: string;
  seq: number;
  messageId: string;
  senderId: string;
  senderDeviceId: string;
  /** The encoded new_message frame (its content is read only for previews). */
  frame: string;
}

export interface PushProvider {
  /** `userIds`: members the message was delivered to (the sender's user included or not). */
  messageCommitted(message: CommittedMessage, userIds: string[]): void;
}
