import { WebSocket } from 'ws';
import { SwitchboardClient, SwitchboardHttpError, directChatId } from '@switchboard/client';
import { loadSession, type SavedSession } from './session-store.js';
import { CliError } from './errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** --server, then $SWITCHBOARD_SERVER, then the default. */
export function serverUrl(flag: string | undefined): string {
  return flag ?? process.env.SWITCHBOARD_SERVER ?? DEFAULT_SERVER;
}

/** A client for the saved session (Node 20 has no global WebSocket: use ws's, which sends the token as a header). */
export function sessionClient(): { client: SwitchboardClient; session: SavedSession } {
  const session = loadSession();
  const client = SwitchboardClient.fromSession(session.server, session, { WebSocket, authHeader: true });
  return { client, session };
}

/**
 * A chat argument: a chat id ("dm:…", "g:…") as is, "@name" or a bare username → the
 * direct chat with that user.
 */
export async function resolveChat(client: SwitchboardClient, session: SavedSession, arg: string): Promise<string> {
  if (arg.startsWith('dm:') || arg.startsWith('g:')) return arg;
  const username = arg.startsWith('@') ? arg.slice(1) : arg;
  const user = await client.findUser(username);
  if (!user) throw new CliError(`no user named "${username}"`);
  return directChatId(session.user_id, user.user_id);
}

/** Turns HTTP errors into one-line messages. */
export async function httpCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SwitchboardHttpError) {
      if (err.status === 401 && err.code === 'unauthorized') throw new CliError(`${what}: session expired or revoked; log in again`);
      throw new CliError(`${what}: ${err.status} ${err.code}`);
    }
    if (err instanceof TypeError)
      throw new CliError(`${what}: cannot reach the server (${(err.cause as Error | undefined)?.message ?? err.message})`);
    throw err;
  }
}
