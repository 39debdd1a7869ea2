import { parseArgs } from 'node:util';
import { sessionClient, resolveChat, httpCall } from '../context.js';
import { TICKS } from '../format.js';
import { CliError } from '../errors.js';
import { resolveMessage, socketCall } from './socket-call.js';

/*
 * Changing an earlier message (PROTOCOL.md "Message lifecycle"): edit, delete for everyone,
 * react. A message is named by its id or by `#seq` in its chat.
 */

async function target(
  command: string,
  args: string[],
  usage: string,
): Promise<{ rest: string[]; chatId: string; messageId: string; client: ReturnType<typeof sessionClient>['client'] }> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const [chat, message, ...rest] = positionals;
  if (!chat || !message) throw new CliError(`usage: ${usage}`);
  const { client, session } = sessionClient();
  const chatId = await httpCall(command, () => resolveChat(client, session, chat));
  const messageId = await httpCall(command, () => resolveMessage(client, chatId, message));
  return { rest, chatId, messageId, client };
}

/** `switchboard edit <chat> <message> <text...>`: replaces the text of one's own message. */
export async function edit(args: string[]): Promise<number> {
  const usage = 'switchboard edit <username|chat_id> <message_id|#seq> <text...>';
  const { rest, chatId, messageId, client } = await target('edit', args, usage);
  const text = rest.join(' ');
  if (!text) throw new CliError(`usage: ${usage}`);
  const ack = await socketCall(client, 'edit', () => client.edit(chatId, messageId, text));
  process.stdout.write(`${TICKS.sent} edited ${messageId} [${ack.chat_id} #${ack.seq}]\n`);
  return 0;
}

/** `switchboard delete <chat> <message>`: deletes a message for everyone. */
export async function del(args: string[]): Promise<number> {
  const { chatId, messageId, client } = await target('delete', args, 'switchboard delete <username|chat_id> <message_id|#seq>');
  const ack = await socketCall(client, 'delete', () => client.deleteForEveryone(chatId, messageId));
  process.stdout.write(`${TICKS.sent} deleted ${messageId} for everyone [${ack.chat_id} #${ack.seq}]\n`);
  return 0;
}

/** `switchboard react <chat> <message> <emoji>`; `--remove` (or "") takes one's reaction back. */
export async function react(args: string[]): Promise<number> {
  const remove = args.includes('--remove');
  const usage = 'switchboard react <username|chat_id> <message_id|#seq> <emoji> | --remove';
  const { rest, chatId, messageId, client } = await target(
    'react',
    args.filter((a) => a !== '--remove'),
    usage,
  );
  const emoji = remove ? '' : (rest[0] ?? '');
  if (!remove && !emoji) throw new CliError(`usage: ${usage}`);
  const ack = await socketCall(client, 'react', () => client.react(chatId, messageId, emoji));
  process.stdout.write(
    `${TICKS.sent} ${emoji ? `reacted ${emoji} to` : 'took back the reaction to'} ${messageId} [${ack.chat_id} #${ack.seq}]\n`,
  );
  return 0;
}
