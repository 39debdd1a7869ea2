import { parseArgs } from 'node:util';
import { serverUrl } from './context.js';
import { CliError } from './errors.js';

const USAGE = `usage (the server's ADMIN_TOKEN in $ADMIN_TOKEN, --admin-token or $SWITCHBOARD_ADMIN_TOKEN; --server URL):
  switchboard admin webhooks list
  switchboard admin webhooks add <url> [--events message.created,message.updated,user.created,group.updated,report.created]
  switchboard admin webhooks remove <webhook_id>`;

interface WebhookView {
  webhook_id: string;
  url: string;
  events: string[];
  secret?: string;
}

/** `switchboard admin webhooks ...`: PROTOCOL.md "Operators", the webhook rows. */
export async function adminWebhooks(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { server: { type: 'string' }, 'admin-token': { type: 'string' }, events: { type: 'string' } },
  });
  const token = values['admin-token'] ?? process.env.ADMIN_TOKEN ?? process.env.SWITCHBOARD_ADMIN_TOKEN;
  if (!token) throw new CliError(`no admin token\n${USAGE}`);
  const base = serverUrl(values.server);
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((err: unknown) => {
      throw new CliError(`cannot reach ${base}: ${(err as Error).message}`);
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as { error?: string; message?: string }) : null;
    if (!res.ok) throw new CliError(`${method} ${path}: ${res.status} ${parsed?.error ?? ''} ${parsed?.message ?? ''}`.trim());
    return parsed;
  };
  const [sub, arg] = positionals;
  if (sub === 'list' || sub === undefined) {
    const { webhooks } = (await call('GET', '/v1/admin/webhooks')) as { webhooks: WebhookView[] };
    for (const w of webhooks) process.stdout.write(`${w.webhook_id}  ${w.url}  ${w.events.join(',')}\n`);
    return 0;
  }
  if (sub === 'add' && arg) {
    const events = values.events?.split(',').filter((e) => e !== '');
    const w = (await call('POST', '/v1/admin/webhooks', { url: arg, ...(events ? { events } : {}) })) as WebhookView;
    process.stdout.write(`${w.webhook_id}  ${w.url}  ${w.events.join(',')}\nsecret (shown once): ${w.secret}\n`);
    return 0;
  }
  if (sub === 'remove' && arg) {
    await call('DELETE', `/v1/admin/webhooks/${encodeURIComponent(arg)}`);
    process.stdout.write(`removed ${arg}\n`);
    return 0;
  }
  throw new CliError(USAGE);
}
