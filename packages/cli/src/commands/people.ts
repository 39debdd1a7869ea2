import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { UserView } from '@switchboard/client';
import { sessionClient, httpCall } from '../context.js';
import { CliError } from '../errors.js';
import { userIdsOf } from '../names.js';

/* PROTOCOL.md "People": profile, search, contacts, block / unblock. */

const IMAGE_TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' };

function userLine(u: UserView): string {
  const about = u.about ? `  ${u.about.replace(/\s+/g, ' ')}` : '';
  const avatar = u.avatar ? `  [avatar ${u.avatar.media_id}]` : '';
  return `${u.username} (${u.user_id}) "${u.display_name}"${about}${avatar}\n`;
}

/** `switchboard profile [--display-name X] [--about TEXT] [--avatar FILE | --no-avatar]`: shows (after changing) one's profile. */
export async function profile(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'display-name': { type: 'string' },
      about: { type: 'string' },
      avatar: { type: 'string' },
      'no-avatar': { type: 'boolean' },
    },
  });
  const { client } = sessionClient();
  let avatarMediaId: string | null | undefined = values['no-avatar'] ? null : undefined;
  if (values.avatar !== undefined) {
    const file = values.avatar;
    const contentType = IMAGE_TYPES[path.extname(file).toLowerCase()];
    if (!contentType) throw new CliError('--avatar: a .jpg, .png or .webp image');
    const blob = await openAsBlob(file).catch(() => {
      throw new CliError(`--avatar: cannot read ${file}`);
    });
    avatarMediaId = await httpCall('upload', () => client.uploadMedia(blob, { contentType, filename: path.basename(file) }));
  }
  const patch = { displayName: values['display-name'], about: values.about, avatarMediaId };
  const changed = Object.values(patch).some((v) => v !== undefined);
  const me = await httpCall('profile', () => (changed ? client.updateProfile(patch) : client.me()));
  process.stdout.write(userLine(me));
  return 0;
}

/** `switchboard search PREFIX [--limit N]`: users whose username starts with PREFIX. */
export async function search(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { limit: { type: 'string' } } });
  const [prefix] = positionals;
  if (!prefix) throw new CliError('usage: switchboard search <prefix> [--limit N]   (at least 3 characters)');
  const { client } = sessionClient();
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  for (const u of await httpCall('search', () => client.searchUsers(prefix, { limit }))) process.stdout.write(userLine(u));
  return 0;
}

const CONTACTS_USAGE = `usage:
  switchboard contacts                        lists your contacts
  switchboard contacts add <username...>      adds them
  switchboard contacts remove <username...>   removes them`;

/** `switchboard contacts [add|remove <username...>]`. */
export async function contacts(args: string[]): Promise<number> {
  const [sub, ...names] = args;
  const { client } = sessionClient();
  if (sub === undefined) {
    for (const u of await httpCall('contacts', () => client.contacts())) process.stdout.write(userLine(u));
    return 0;
  }
  if ((sub !== 'add' && sub !== 'remove') || names.length === 0) throw new CliError(CONTACTS_USAGE);
  for (const [i, id] of (await userIdsOf(client, names)).entries()) {
    await httpCall(`contacts ${sub}`, () => (sub === 'add' ? client.addContact(id) : client.removeContact(id)));
    process.stdout.write(`${sub === 'add' ? 'added' : 'removed'} ${names[i]!.replace(/^@/, '')}\n`);
  }
  return 0;
}

/** `switchboard block [<username...>]`: blocks them; without names, lists whom you blocked. */
export async function block(args: string[]): Promise<number> {
  const { client } = sessionClient();
  if (args.length === 0) {
    for (const id of await httpCall('block', () => client.listBlocked())) {
      const u = await client.getUser(id).catch(() => null);
      process.stdout.write(u ? userLine(u) : `${id}\n`);
    }
    return 0;
  }
  for (const [i, id] of (await userIdsOf(client, args)).entries()) {
    await httpCall('block', () => client.block(id));
    process.stdout.write(`blocked ${args[i]!.replace(/^@/, '')}\n`);
  }
  return 0;
}

/** `switchboard unblock <username...>`. */
export async function unblock(args: string[]): Promise<number> {
  if (args.length === 0) throw new CliError('usage: switchboard unblock <username...>');
  const { client } = sessionClient();
  for (const [i, id] of (await userIdsOf(client, args)).entries()) {
    await httpCall('unblock', () => client.unblock(id));
    process.stdout.write(`unblocked ${args[i]!.replace(/^@/, '')}\n`);
  }
  return 0;
}
