import { parseArgs } from 'node:util';
import { adminWebhooks } from '../admin-webhooks.js';
import { SwitchboardAdmin, SwitchboardHttpError } from '@switchboard/client';
import { serverUrl, httpCall } from '../context.js';
import { CliError } from '../errors.js';
import { time } from '../format.js';

/*
 * `switchboard admin <subcommand>`: the operator's API (PROTOCOL.md "Operators") with
 * $ADMIN_TOKEN. Each subcommand is one entry of SUBCOMMANDS (its usage line, its options,
 * what it does), so adding one (e.g. webhooks) is adding an entry.
 */

type Options = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

interface Subcommand {
  usage: string;
  options?: Options;
  run(admin: SwitchboardAdmin, args: { values: Record<string, unknown>; positionals: string[] }): Promise<void>;
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** The one positional argument a subcommand takes, or its usage. */
function one(positionals: string[], usage: string): string {
  const [arg] = positionals;
  if (!arg || positionals.length !== 1) throw new CliError(`usage: switchboard admin ${usage}`);
  return arg;
}

export const SUBCOMMANDS: Record<string, Subcommand> = {
  users: {
    usage: 'users [--prefix P] [--after CURSOR] [--limit N]   accounts by username (S = suspended)',
    options: { prefix: { type: 'string' }, after: { type: 'string' }, limit: { type: 'string' } },
    async run(admin, { values }) {
      const page = await admin.users({
        prefix: values.prefix as string | undefined,
        after: values.after as string | undefined,
        limit: values.limit === undefined ? undefined : Number(values.limit),
      });
      for (const u of page.users)
        out(`${u.suspended ? 'S' : ' '} ${u.user_id}  ${u.username}  "${u.display_name}"  created ${time(u.created_at)}`);
      if (page.next_cursor) out(`more: --after ${page.next_cursor}`);
    },
  },
  suspend: {
    usage: 'suspend <user_id>                                 closes its sockets, ends its sessions, refuses logins',
    async run(admin, { positionals }) {
      const id = one(positionals, 'suspend <user_id>');
      await admin.suspend(id);
      out(`suspended ${id}`);
    },
  },
  unsuspend: {
    usage: 'unsuspend <user_id>                               allows logins again',
    async run(admin, { positionals }) {
      const id = one(positionals, 'unsuspend <user_id>');
      await admin.unsuspend(id);
      out(`unsuspended ${id}`);
    },
  },
  'delete-user': {
    usage: 'delete-user <user_id>                             deletes the account and erases its messages',
    async run(admin, { positionals }) {
      const id = one(positionals, 'delete-user <user_id>');
      await admin.deleteUser(id);
      out(`deleted user ${id}`);
    },
  },
  'delete-message': {
    usage: 'delete-message <message_id>                       erases it as by delete for everyone',
    async run(admin, { positionals }) {
      const id = one(positionals, 'delete-message <message_id>');
      await admin.deleteMessage(id);
      out(`deleted message ${id}`);
    },
  },
  reports: {
    usage: 'reports [--after CURSOR] [--limit N]              reports, oldest first',
    options: { after: { type: 'string' }, limit: { type: 'string' } },
    async run(admin, { values }) {
      const page = await admin.reports({
        after: values.after as string | undefined,
        limit: values.limit === undefined ? undefined : Number(values.limit),
      });
      for (const r of page.reports) {
        const about = r.message_id ? `${r.user_id} message ${r.message_id}` : r.user_id;
        out(`${r.report_id}  ${time(r.created_at)}  ${r.reason}  by ${r.reporter_id} about ${about}${r.note ? `  "${r.note}"` : ''}`);
      }
      if (page.next_cursor) out(`more: --after ${page.next_cursor}`);
    },
  },
  bots: {
    usage:
      'bots create <username> [--display-name X]         a bot user; prints its token (it does not expire)\n' +
      '  switchboard admin bots token <user_id>                           a new token for a bot (its old one stops working)',
    options: { 'display-name': { type: 'string' } },
    async run(admin, { values, positionals }) {
      const [sub, username] = positionals;
      if (sub === 'token' && username && positionals.length === 2) {
        const bot = await admin.newBotToken(username);
        out(`bot ${bot.user_id}`);
        out(`token: ${bot.token}`);
        return;
      }
      if (sub !== 'create' || !username || positionals.length !== 2)
        throw new CliError('usage: switchboard admin bots create <username> [--display-name X] | bots token <user_id>');
      const display = values['display-name'] as string | undefined;
      const bot = await admin.createBot({ username, ...(display ? { display_name: display } : {}) });
      out(`bot ${username} (${bot.user_id})`);
      out(`token: ${bot.token}`);
    },
  },
};

export function adminUsage(): string {
  const lines = Object.values(SUBCOMMANDS).map((s) => `  switchboard admin ${s.usage}`);
  lines.push('  switchboard admin webhooks [list | add URL [--events a,b] | remove ID]');
  return `usage (ADMIN_TOKEN in the environment; --server URL or $SWITCHBOARD_SERVER):\n${lines.join('\n')}`;
}

export async function admin(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === 'webhooks') return adminWebhooks(rest);
  const sub = name === undefined ? undefined : SUBCOMMANDS[name];
  if (!sub) throw new CliError(name === undefined ? adminUsage() : `unknown admin command "${name}"\n${adminUsage()}`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { server: { type: 'string' }, ...sub.options },
  });
  const token = process.env.ADMIN_TOKEN;
  if (!token) throw new CliError("ADMIN_TOKEN is not set: export the server's ADMIN_TOKEN to use admin commands");
  const client = new SwitchboardAdmin(serverUrl(values.server as string | undefined), token);
  await httpCall(`admin ${name}`, async () => {
    try {
      await sub.run(client, { values, positionals });
    } catch (err) {
      // Not a user session that expired (httpCall's reading of a 401): the operator's token is wrong.
      if (err instanceof SwitchboardHttpError && err.status === 401)
        throw new CliError(`admin ${name}: the server refused ADMIN_TOKEN (401)`);
      throw err;
    }
  });
  return 0;
}
