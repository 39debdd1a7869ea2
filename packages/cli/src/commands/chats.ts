import { sessionClient, httpCall } from '../context.js';
import { time } from '../format.js';

export async function chats(): Promise<number> {
  const { client } = sessionClient();
  const list = await httpCall('chats', () => client.chats());
  if (list.length === 0) process.stdout.write('no chats yet\n');
  for (const c of list) {
    const last = c.last_message ? `${time(c.last_message.created_at)} ${c.last_message.content.split('\n')[0]!.slice(0, 60)}` : '';
    const unread = c.unread_count ? ` (${c.unread_count} unread)` : '';
    process.stdout.write(`${c.chat_id}  ${c.title}${unread}  ${last}\n`);
  }
  return 0;
}
