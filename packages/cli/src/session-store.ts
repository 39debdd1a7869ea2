import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { CliError } from './errors.js';

/** What `switchboard login` saves: one device session. */
export interface SavedSession {
  server: string;
  username: string;
  token: string;
  user_id: string;
  device_id: string;
  ws_url: string;
}

/** ~/.config/switchboard, or $SWITCHBOARD_HOME. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SWITCHBOARD_HOME) return path.resolve(env.SWITCHBOARD_HOME);
  const base = env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(base, 'switchboard');
}

export function sessionPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'session.json');
}

export function saveSession(session: SavedSession): string {
  const file = sessionPath();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // The token is a credential: readable by the owner only.
  writeFileSync(file, JSON.stringify(session, null, 2) + '\n', { mode: 0o600 });
  return file;
}

export function loadSession(): SavedSession {
  const file = sessionPath();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new CliError('not logged in: run `switchboard login <username>` first');
  }
  try {
    return JSON.parse(text) as SavedSession;
  } catch {
    throw new CliError(`${file} is not valid JSON; log in again`);
  }
}

export function deleteSession(): void {
  rmSync(sessionPath(), { force: true });
}
