import { SendError, type AckSent, type SwitchboardClient } from '@switchboard/client';
import { CliError } from '../errors.js';

/**
 * Runs one socket call that the server answers with ack_sent (a send, an edit, a delete, a
 * reaction): connects, waits for the answer (at most `timeoutMs`), closes. A refusal becomes
 * a one-line error.
 */
export async function socketCall(
  client: SwitchboardClient,
  what: string,
  call: () => Promise<AckSent>,
  timeoutMs = 15_000,
): Promise<AckSent> {
  const timer = setTimeout(() => {
    process.stderr.write(`switchboard: no acknowledgement within ${timeoutMs} ms\n`);
    process.exit(2);
  }, timeoutMs);
  client.on('disconnected', (d) => {
    if (!d.willReconnect && d.code !== 1000) process.stderr.write(`switchboard: disconnected (${d.code} ${d.reason})\n`);
  });
  try {
    const acked = call();
    await client.connect();
    return await acked;
  } catch (err) {
    if (err instanceof SendError) throw new CliError(`${what} refused: ${err.message}`);
    throw err;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}

/**
 * A message argument: `#N` is the message with seq N in the chat (as `history` and `listen`
 * print it), anything else a message_id.
 */
export async function resolveMessage(client: SwitchboardClient, chatId: string, arg: string): Promise<string> {
  const bySeq = /^#(\d+)$/.exec(arg);
  if (!bySeq) return arg;
  const seq = Number(bySeq[1]);
  const page = await client.history(chatId, { after: seq - 1, limit: 1 });
  const m = page.messages[0];
  if (!m || m.seq !== seq) throw new CliError(`no message #${seq} in ${chatId}`);
  return m.message_id;
}
