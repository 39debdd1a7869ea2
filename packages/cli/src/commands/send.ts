import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SendError } from '@switchboard/client';
import { sessionClient, resolveChat, httpCall } from '../context.js';
import { TICKS } from '../format.js';
import { CliError } from '../errors.js';
import { userIdsOf } from '../names.js';
import { resolveMessage } from './socket-call.js';

/** Content types by file extension, for --file without --type. */
const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.pdf': 'application/pdf',
  '.txt': 'text/plain',
  '.mp4': 'video/mp4',
  '.mp3': 'audio/mpeg',
  '.zip': 'application/zip',
};

/** `switchboard send <to> [--file F]... <text...>`: uploads the files, waits for ack_sent and prints it. */
export async function send(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      file: { type: 'string', short: 'f', multiple: true },
      type: { type: 'string' },
      'reply-to': { type: 'string' },
      mention: { type: 'string', multiple: true },
      forwarded: { type: 'boolean' },
    },
  });
  const [to, ...words] = positionals;
  const text = words.join(' ');
  const files = values.file ?? [];
  if (!to || (!text && files.length === 0))
    throw new CliError('usage: switchboard send <username|chat_id> [--file F]... [--reply-to ID|#seq] [--mention USER]... <text...>');
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
    const attachments: string[] = [];
    for (const file of files) {
      // A file-backed Blob: fetch streams it from disk, never reading it whole into memory.
      const blob = await openAsBlob(file).catch(() => {
        throw new CliError(`cannot read ${file}`);
      });
      const contentType = values.type ?? TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      attachments.push(await httpCall('upload', () => client.uploadMedia(blob, { contentType, filename: path.basename(file) })));
    }
    const replyTo = values['reply-to'] ? await httpCall('send', () => resolveMessage(client, chatId, values['reply-to']!)) : undefined;
    const mentions = values.mention?.length ? await httpCall('send', () => userIdsOf(client, values.mention!)) : undefined;
    const ackPromise = client.send(chatId, text, { attachments, replyTo, mentions, forwarded: values.forwarded });
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
