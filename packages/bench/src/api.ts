import { randomBytes } from 'node:crypto';
import { mapLimit } from './stats.js';

/* The HTTP calls a bench needs: create users and open device sessions. */

export interface Session {
  token: string;
  user_id: string;
  device_id: string;
  ws_url: string;
  username: string;
}

export const BENCH_PASSWORD = 'bench-password-1';

/** A short random tag so that runs against a long-lived server (--url) never collide on usernames. */
export function runTag(): string {
  return randomBytes(4).toString('hex');
}

async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

export async function createUser(baseUrl: string, username: string): Promise<string> {
  const r = await post(`${baseUrl}/v1/users`, { username, password: BENCH_PASSWORD });
  if (r.status !== 201) throw new Error(`POST /v1/users ${username}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.user_id as string;
}

export async function createSession(baseUrl: string, username: string, deviceName?: string): Promise<Session> {
  const r = await post(`${baseUrl}/v1/sessions`, { username, password: BENCH_PASSWORD, device_name: deviceName });
  if (r.status !== 201) throw new Error(`POST /v1/sessions ${username}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return { ...(r.json as Omit<Session, 'username'>), username };
}

/**
 * Creates `count` users and `devices` sessions for each; returns the sessions grouped per user.
 * Registration costs one scrypt hash per user and one per session, so it runs with bounded concurrency.
 */
export async function createUsers(
  baseUrl: string,
  opts: {
    prefix: string;
    count: number;
    devices?: number;
    concurrency?: number;
    onProgress?: (done: number) => void;
    /** Where user i registers and opens its sessions (a cluster node); default baseUrl. */
    baseUrlFor?: (i: number) => string;
  },
): Promise<Session[][]> {
  const devices = opts.devices ?? 1;
  let done = 0;
  const idx = Array.from({ length: opts.count }, (_, i) => i);
  return mapLimit(idx, opts.concurrency ?? 8, async (i) => {
    const username = `${opts.prefix}_${i}`;
    const url = opts.baseUrlFor ? opts.baseUrlFor(i) : baseUrl;
    await createUser(url, username);
    const sessions: Session[] = [];
    for (let d = 0; d < devices; d++) sessions.push(await createSession(url, username, `bench-${d}`));
    done++;
    if (opts.onProgress && (done % 50 === 0 || done === opts.count)) opts.onProgress(done);
    return sessions;
  });
}

/** The socket URL for a session: the server's ws_url when it gave one, else derived from the base URL. */
export function socketUrl(baseUrl: string, s: Pick<Session, 'ws_url' | 'token'>): string {
  const base = s.ws_url || `${baseUrl.replace(/^http/, 'ws')}/v1/ws`;
  const sep = base.includes('?') ? '&' : '?';
  return `${base}${sep}access_token=${encodeURIComponent(s.token)}`;
}
