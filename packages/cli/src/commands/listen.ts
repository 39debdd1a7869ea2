import { parseArgs } from 'node:util';
import { sessionClient } from '../context.js';
import { messageLine, tickLine, updateLine } from '../format.js';
import { settingsText } from './chat-settings.js';
import { NameCache } from '../names.js';

/** `switchboard listen`: prints incoming messages and ticks, one line each, until Ctrl-C. */
export async function listen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const { client, session } = sessionClient();
  const names = new NameCache(client);
  // Lines are printed in arrival order even though sender names are looked up asynchronously.
  let out: Promise<void> = Promise.resolve();
  const print = (line: () => Promise<string> | string) => {
    out = out.then(async () => {
      process.stdout.write((await line()) + '\n');
    });
  };
  const info = (text: string) => process.stderr.write(text + '\n');

  if (values.json) {
    client.on('frame', (f) => {
      if (f.type !== 'pong') print(() => JSON.stringify(f));
    });
  } else {
    client.on('message', (m) =>
      print(async () =>
        messageLine(
          m,
          await names.get(m.sender_id),
          m.sender_id === session.user_id,
          m.reply_to ? await names.get(m.reply_to.sender_id) : '',
        ),
      ),
    );
    client.on('message_update', ({ update, message }) =>
      print(async () =>
        updateLine(
          update,
          update.sender_id === session.user_id ? 'me' : await names.get(update.sender_id),
          message ? `#${message.seq}` : update.target_message_id,
        ),
      ),
    );
    client.on('chat_settings', (s) =>
      print(() => `* ${s.chat_id} changed on another device: ${settingsText(s) || 'unmuted, not archived, not pinned'}`),
    );
    client.on('status', (s) => print(async () => tickLine(s, await names.get(s.user_id))));
    client.on('group_update', (g) =>
      print(
        async () => `* group ${g.name} (${g.chat_id}): ${g.event} ${(await Promise.all(g.user_ids.map((id) => names.get(id)))).join(', ')}`,
      ),
    );
    client.on('read_sync', (r) => print(() => `* read up to #${r.read_seq} in ${r.chat_id} on another device`));
    client.on('typing', (t) => {
      if (t.state === 'composing') print(async () => `* ${await names.get(t.user_id)} is typing in ${t.chat_id}`);
    });
    client.on('error', (e) => print(() => `! ${e.code}: ${e.message}`));
  }
  client.on('connected', ({ reconnect }) => info(reconnect ? '* reconnected' : `* connected as ${session.username}`));
  client.on('sync_complete', () => info('* up to date'));
  client.on('disconnected', (d) => {
    if (d.willReconnect) info(`* disconnected (${d.code}); reconnecting in ${d.retryInMs} ms`);
    else {
      info(`* disconnected for good (${d.code} ${d.reason}); log in again`);
      process.exit(1);
    }
  });
  const stop = () => {
    void client.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await client.connect();
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}
