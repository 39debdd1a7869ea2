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
import { backup, restore } from './backup.js';
import { devices } from './devices.js';
import { push } from './push.js';
import { download } from './download.js';
import { edit, del, react } from './lifecycle.js';
import { mute, unmute, archive, unarchive, pin, unpin } from './chat-settings.js';
import { admin } from './admin.js';
import { block, contacts, profile, search, unblock } from './people.js';

export type Command = (args: string[]) => Promise<number>;

export const commands: Record<string, Command> = {
  serve,
  worker,
  backup,
  restore,
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
  edit,
  delete: del,
  react,
  mute,
  unmute,
  archive,
  unarchive,
  pin,
  unpin,
  admin,
  profile,
  search,
  contacts,
  block,
  unblock,
};

export function usage(): string {
  return `Usage: switchboard <command> [options]

Server:
  serve [--port N] [--host H] [--data-dir D] [--log-level L]
  worker [--log-level L]          cluster only (REDIS_URL, DATABASE_URL): a fan-out worker alone;
                                  run nodes with FANOUT_WORKER=0 to leave fan-out to workers
  backup FILE [--data-dir D]      embedded only: a consistent copy of DATA_DIR (store, media, keys)
                                  into one archive, taken while the server serves
  restore FILE [--data-dir D] [--force]   puts a backup into DATA_DIR (refuses a non-empty one
                                  unless --force; stop the server on it first)

Client (--server URL, default $SWITCHBOARD_SERVER or http://127.0.0.1:8080):
  register <username> [--display-name X] [--password P]
  login <username> [--password P] [--device-name X]   saves the session
  login --assertion JWT [--device-name X]              signs in with a token your app signed (or $SWITCHBOARD_ASSERTION)
  whoami
  send <username|@username|chat_id> <text...>         prints the ack with seq
       [--file F]... [--type MIME]                     attach files (text may then be empty)
       [--reply-to ID|#seq] [--mention USER]... [--forwarded]
  edit <chat> <message_id|#seq> <text...>              your own message, within the edit window
  delete <chat> <message_id|#seq>                      for everyone (yours, or any as a group admin)
  react <chat> <message_id|#seq> <emoji> | --remove    one reaction per message; --remove takes it back
  download <media_id> [-o FILE|-]                      saves an attachment (ids are shown by listen/history)
  listen [--json]                                      prints messages and ticks
  chats [--archived]                                   pinned first; archived ones only with --archived
  mute <chat> [--for 8h|1w|…] | unmute <chat>          no push for it (mentions still come through)
  archive <chat> | unarchive <chat> | pin <chat> | unpin <chat>
  history <username|chat_id> [--limit N] [--before SEQ] [--after SEQ]
  group create <name> <username...>
  group add <group_id> <username...> | group remove <group_id> <username>
  group rename <group_id> <name> | group show <group_id>
  devices                                              this account's sessions (* = this one)
  devices revoke <device_id>                           signs that device out
  push webpush <endpoint> <p256dh> <auth> | push apns <token> [--sandbox] | push fcm <token>
  push off | push key                                  this device's push target; the VAPID key
  profile [--display-name X] [--about TEXT] [--avatar IMAGE | --no-avatar]   shows / changes your profile
  search <prefix> [--limit N]                          users whose username starts with it (3+ characters)
  contacts | contacts add <username...> | contacts remove <username...>
  block [<username...>] | unblock <username...>        without names: whom you blocked
  logout

Operator (ADMIN_TOKEN in the environment, --server as above):
  admin users [--prefix P] [--after C] [--limit N] | admin suspend|unsuspend <user_id>
  admin delete-user <user_id> | admin delete-message <message_id>
  admin reports [--after C] [--limit N] | admin bots create <username> [--display-name X]
  admin webhooks [list | add <url> [--events a,b] | remove <webhook_id>]

Passwords come from --password, $SWITCHBOARD_PASSWORD or a prompt.
The session is stored in $SWITCHBOARD_HOME/session.json (default ~/.config/switchboard).
Group messages: send g:<group_id> <text>.
`;
}
