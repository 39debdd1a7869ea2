import { parseArgs } from 'node:util';
import { sessionClient, resolveChat, httpCall } from '../context.js';
import { messageLine, TICKS } from '../format.js';
import { NameCache } from '../names.js';
import { CliError } from '../errors.js';

function optionalInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`--${name}: not an integer: ${v}`);
  return n;
}

export async function history(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { limit: { type: 'string' }, before: { type: 'string' }, after: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [chat] = positionals;
  if (!chat) throw new CliError('usage: switchboard history <username|chat_id> [--limit N] [--before SEQ] [--after SEQ]');
  const { client, session } = sessionClient();
  const chatId = await httpCall('history', () => resolveChat(client, session, chat));
  const page = await httpCall('history', () =>
    client.history(chatId, {
      limit: optionalInt('limit', values.limit),
      before: optionalInt('before', values.before),
      after: optionalInt('after', values.after),
    }),
  );
  const names = new NameCache(client);
  for (const m of page.messages) {
    if (values.json) {
      process.stdout.write(JSON.stringify(m) + '\n');
      continue;
    }
    const mine = m.sender_id === session.user_id;
    const tick = mine && m.status ? `  ${TICKS[m.status]}` : '';
    const quoted = m.reply_to ? await names.get(m.reply_to.sender_id) : '';
    process.stdout.write(messageLine(m, await names.get(m.sender_id), mine, quoted) + tick + '\n');
  }
  return 0;
}
