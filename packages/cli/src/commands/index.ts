import { serve } from './serve.js';
import { register } from './register.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { send } from './send.js';
import { listen } from './listen.js';
import { chats } from './chats.js';
import { history } from './history.js';
import { group } from './group.js';
import { whoami } from './whoami.js';
import { worker } from './worker.js';
import { devices } from './devices.js';
import { push } from './push.js';
import { download } from './download.js';
import { adminWebhooks } from '../admin-webhooks.js';
import { CliError } from '../errors.js';

export type Command = (args: string[]) => Promise<number>;

export const commands: Record<string, Command> = {
  serve,
  worker,
  register,
  login,
  logout,
  send,
  listen,
  chats,
  history,
  group,
  whoami,
  devices,
  push,
  download,
  // Other admin subcommands join here (admin.ts).
  admin: (args) => {
    if (args[0] === 'webhooks') return adminWebhooks(args.slice(1));
    throw new CliError('usage: switchboard admin webhooks [list | add URL [--events a,b] | remove ID]');
  },
};

export function usage(): string {
  return `Usage: switchboard <command> [options]

Server:
  serve [--port N] [--host H] [--data-dir D] [--log-level L]
  worker [--log-level L]          cluster only (REDIS_URL, DATABASE_URL): a fan-out worker alone;
                                  run nodes with FANOUT_WORKER=0 to leave fan-out to workers

Client (--server URL, default $SWITCHBOARD_SERVER or http://127.0.0.1:8080):
  register <username> [--display-name X] [--password P]
  login <username> [--password P] [--device-name X]   saves the session
  whoami
  send <username|@username|chat_id> <text...>         prints the ack with seq
       [--file F]... [--type MIME]                     attach files (text may then be empty)
  download <media_id> [-o FILE|-]                      saves an attachment (ids are shown by listen/history)
  listen [--json]                                      prints messages and ticks
  chats
  history <username|chat_id> [--limit N] [--before SEQ] [--after SEQ]
  group create <name> <username...>
  group add <group_id> <username...> | group remove <group_id> <username>
  group rename <group_id> <name> | group show <group_id>
  devices                                              this account's sessions (* = this one)
  devices revoke <device_id>                           signs that device out
  push webpush <endpoint> <p256dh> <auth> | push apns <token> [--sandbox] | push fcm <token>
  push off | push key                                  this device's push target; the VAPID key
  logout

Operators (--admin-token T or $SWITCHBOARD_ADMIN_TOKEN):
  admin webhooks [list | add <url> [--events a,b] | remove <webhook_id>]

Passwords come from --password, $SWITCHBOARD_PASSWORD or a prompt.
The session is stored in $SWITCHBOARD_HOME/session.json (default ~/.config/switchboard).
Group messages: send g:<group_id> <text>.
`;
}
