/** The direct chat between two users: "dm:" + min + ":" + max, by plain string comparison. */
export function directChatId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

export function groupChatId(groupId: string): string {
  return `g:${groupId}`;
}

export type ParsedChatId = { kind: 'direct'; userIds: [string, string] } | { kind: 'group'; groupId: string };

/** Parses a chat id; null when it is not well formed (including a dm id not in canonical order). */
export function parseChatId(chatId: string): ParsedChatId | null {
  if (chatId.startsWith('g:')) {
    const groupId = chatId.slice(2);
    return groupId.length > 0 && groupId.length <= 64 ? { kind: 'group', groupId } : null;
  }
  if (chatId.startsWith('dm:')) {
    const parts = chatId.slice(3).split(':');
    if (parts.length !== 2) return null;
    const [a, b] = parts as [string, string];
    if (!a || !b || a > b) return null;
    return { kind: 'direct', userIds: [a, b] };
  }
  return null;
}
