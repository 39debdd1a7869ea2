import { MAX_PINNED_CHATS, type ChatSettingsBody, type ChatSettingsView } from '@switchboard/protocol';
import type { Store } from '../engines/store/store.js';
import type { Delivery } from './delivery.js';
import { DomainError } from './errors.js';

/**
 * Per-user chat settings (PROTOCOL.md "Chat settings"): mute, archive, pin, kept on the
 * server and the same on every device of the user. A change reaches the user's other
 * devices as a chat_settings frame through the bus, so on whichever node they are.
 */
export class ChatSettings {
  constructor(private readonly deps: { store: Store; delivery: Delivery }) {}

  async update(userId: string, deviceId: string, chatId: string, body: ChatSettingsBody): Promise<ChatSettingsView> {
    const patch = {
      ...(body.muted_until !== undefined ? { mutedUntil: body.muted_until } : {}),
      ...(body.archived !== undefined ? { archived: body.archived } : {}),
      ...(body.pinned !== undefined ? { pinned: body.pinned } : {}),
    };
    const view = await this.deps.store.setChatSettings(userId, chatId, patch, MAX_PINNED_CHATS);
    if (view === 'not_a_member') throw new DomainError('not_a_member', 'you are not a member of this chat');
    if (view === 'too_many_pinned') throw new DomainError('too_many_pinned', `at most ${MAX_PINNED_CHATS} chats may be pinned`);
    await this.deps.delivery.toUsers([userId], { type: 'chat_settings', ...view }, { exceptDevice: deviceId });
    return view;
  }
}
