/*
 * The push seam: wakes a user none of whose devices is connected, so the app
 * reconnects and replays. A push carries no message content (the device fetches it
 * over the socket), so a lost push delays delivery but never loses a message.
 */
export interface WakeUp {
  userId: string;
  chatId: string;
  messageId: string;
  senderId: string;
}

export interface PushProvider {
  wake(wake: WakeUp): Promise<void>;
}
