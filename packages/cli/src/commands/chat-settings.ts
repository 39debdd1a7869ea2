import { parseArgs } from 'node:util';
import type { ChatSettingsBody, ChatSettingsView } from '@switchboard/client';
import { sessionClient, resolveChat, httpCall } from '../context.js';
import { time } from '../format.js';
import { CliError } from '../errors.js';

/*
 * Per-chat settings (PROTOCOL.md "Chat settings"): mute, archive, pin and their undo. The
 * server keeps them per user, so every device of the user sees the same.
 */

/** "Muted for ever": the last millisecond of year 9999 (muted_until is a time, and JSON has no infinity). */
export const MUTED_FOREVER = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "8h", "30m", "2d", "1w" → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+)([mhdw])$/.exec(s.trim());
  if (!m || Number(m[1]) <= 0) throw new CliError(`--for: not a duration (like 30m, 8h, 2d, 1w): ${s}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** How a chat's settings read in one line: "muted until …, archived, pinned", or "" when none. */
export function settingsText(s: Pick<ChatSettingsView, 'muted_until' | 'archived' | 'pinned'>, now = Date.now()): string {
  const parts: string[] = [];
  if (s.pinned) parts.push('pinned');
  if (s.muted_until !== null && s.muted_until > now)
    parts.push(s.muted_until >= MUTED_FOREVER ? 'muted' : `muted until ${time(s.muted_until)}`);
  if (s.archived) parts.push('archived');
  return parts.join(', ');
}

async function apply(command: string, chat: string | undefined, body: ChatSettingsBody): Promise<number> {
  if (!chat) throw new CliError(`usage: switchboard ${command} <username|chat_id>${command === 'mute' ? ' [--for 8h|1w|…]' : ''}`);
  const { client, session } = sessionClient();
  const chatId = await httpCall(command, () => resolveChat(client, session, chat));
  const view = await httpCall(command, () => client.setChatSettings(chatId, body));
  process.stdout.write(`${view.chat_id}: ${settingsText(view) || 'no settings (unmuted, not archived, not pinned)'}\n`);
  return 0;
}

/** `switchboard mute <chat> [--for 8h]`: no push for it (mentions excepted); for ever without --for. */
export async function mute(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { for: { type: 'string' } } });
  const until = values.for ? Date.now() + parseDuration(values.for) : MUTED_FOREVER;
  return apply('mute', positionals[0], { muted_until: until });
}

const toggle =
  (command: string, body: ChatSettingsBody) =>
  (args: string[]): Promise<number> =>
    apply(command, parseArgs({ args, allowPositionals: true, options: {} }).positionals[0], body);

export const unmute = toggle('unmute', { muted_until: null });
export const archive = toggle('archive', { archived: true });
export const unarchive = toggle('unarchive', { archived: false });
export const pin = toggle('pin', { pinned: true });
export const unpin = toggle('unpin', { pinned: false });
