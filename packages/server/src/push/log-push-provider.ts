import type { Logger } from 'pino';
import type { PushProvider, WakeUp } from './push-provider.js';

/** Logs each wake-up instead of calling APNs/FCM: the default until a real provider is configured. */
export class LogPushProvider implements PushProvider {
  constructor(private readonly log: Logger) {}
  async wake(w: WakeUp): Promise<void> {
    this.log.debug({ user_id: w.userId, chat_id: w.chatId, message_id: w.messageId }, 'push wake-up');
  }
}
