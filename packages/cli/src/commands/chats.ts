import { parseArgs } from 'node:util';
import { sessionClient, httpCall } from '../context.js';
import { time } from '../format.js';
import { settingsText } from './chat-settings.js';

/** `switchboard chats`: pinned first (the server's order), archived ones only with --archived. */
export async function chats(args: string[] = []): Promise<number> {
  const { values } = parseArgs({ args, options: { archived: { type: 'boolean' } } });
  const { client } = sessionClient();
  const all = await httpCall('chats', () => client.chats());
  // A server from before chat settings sends no `archived`: nothing is archived there.
  const list = all.filter((c) => (c.archived === true) === !!values.archived);
  const archived = all.length - list.length;
  if (list.length === 0) process.stdout.write(values.archived ? 'no archived chats\n' : 'no chats yet\n');
  for (const c of list) {
    const lm = c.last_message;
    const last = lm ? `${time(lm.created_at)} ${lm.deleted ? '(deleted)' : lm.content.split('\n')[0]!.slice(0, 60)}` : '';
    const unread = c.unread_count ? ` (${c.unread_count} unread)` : '';
    const settings = settingsText({ muted_until: c.muted_until ?? null, archived: c.archived ?? false, pinned: c.pinned ?? false });
    process.stdout.write(`${c.chat_id}  ${c.title}${unread}${settings ? `  [${settings}]` : ''}  ${last}\n`);
  }
  if (!values.archived && archived > 0) process.stdout.write(`(${archived} archived: switchboard chats --archived)\n`);
  return 0;
}
