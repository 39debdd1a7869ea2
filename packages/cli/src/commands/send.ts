import { parseArgs } from 'node:util';
import { SendError } from '@switchboard/client';
import { sessionClient, resolveChat, httpCall } from '../context.js';
import { TICKS } from '../format.js';
import { CliError } from '../errors.js';

/** `switchboard send <to> <text...>`: waits for ack_sent and prints it. */
export async function send(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { timeout: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [to, ...words] = positionals;
  const text = words.join(' ');
  if (!to || !text) throw new CliError('usage: switchboard send <username|chat_id> <text...>');
  const { client, session } = sessionClient();
  const chatId = await httpCall('send', () => resolveChat(client, session, to));
  const timeoutMs = Number(values.timeout ?? 15_000);
  const timer = setTimeout(() => {
    process.stderr.write(`switchboard: no acknowledgement within ${timeoutMs} ms\n`);
    process.exit(2);
  }, timeoutMs);
  client.on('disconnected', (d) => {
    if (!d.willReconnect && d.code !== 1000) process.stderr.write(`switchboard: disconnected (${d.code} ${d.reason})\n`);
  });
  try {
    const ackPromise = client.send(chatId, text);
    await client.connect();
    const ack = await ackPromise;
    if (values.json) process.stdout.write(JSON.stringify(ack) + '\n');
    else process.stdout.write(`${TICKS.sent} sent [${ack.chat_id} #${ack.seq}] ${ack.message_id}\n`);
    return 0;
  } catch (err) {
    if (err instanceof SendError) throw new CliError(`send refused: ${err.message}`);
    throw err;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}
