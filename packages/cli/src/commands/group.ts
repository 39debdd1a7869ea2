import type { GroupView } from '@switchboard/client';
import { sessionClient, httpCall } from '../context.js';
import { NameCache, userIdsOf } from '../names.js';
import { CliError } from '../errors.js';

const USAGE = `usage:
  switchboard group create <name> <username...>
  switchboard group add <group_id> <username...>
  switchboard group remove <group_id> <username>
  switchboard group rename <group_id> <name>
  switchboard group show <group_id>
(send to a group with: switchboard send g:<group_id> <text>)`;

export async function group(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { client } = sessionClient();
  const names = new NameCache(client);
  const show = async (g: GroupView) => {
    const members = await Promise.all(g.members.map(async (m) => `${await names.get(m.user_id)}${m.role === 'admin' ? ' (admin)' : ''}`));
    process.stdout.write(`group ${g.name}  id ${g.group_id}  chat ${g.chat_id}\nmembers: ${members.join(', ')}\n`);
  };
  const gid = (s: string) => s.replace(/^g:/, '');
  switch (sub) {
    case 'create': {
      const [name, ...users] = rest;
      if (!name) throw new CliError(USAGE);
      const ids = await httpCall('group create', () => userIdsOf(client, users));
      await show(await httpCall('group create', () => client.createGroup(name, ids)));
      return 0;
    }
    case 'add': {
      const [groupId, ...users] = rest;
      if (!groupId || users.length === 0) throw new CliError(USAGE);
      const ids = await httpCall('group add', () => userIdsOf(client, users));
      await show(await httpCall('group add', () => client.addMembers(gid(groupId), ids)));
      return 0;
    }
    case 'remove': {
      const [groupId, user] = rest;
      if (!groupId || !user) throw new CliError(USAGE);
      const [id] = await httpCall('group remove', () => userIdsOf(client, [user]));
      await httpCall('group remove', () => client.removeMember(gid(groupId), id!));
      process.stdout.write(`removed ${user}\n`);
      return 0;
    }
    case 'rename': {
      const [groupId, ...words] = rest;
      if (!groupId || words.length === 0) throw new CliError(USAGE);
      await show(await httpCall('group rename', () => client.renameGroup(gid(groupId), words.join(' '))));
      return 0;
    }
    case 'show': {
      const [groupId] = rest;
      if (!groupId) throw new CliError(USAGE);
      await show(await httpCall('group show', () => client.getGroup(gid(groupId))));
      return 0;
    }
    default:
      throw new CliError(USAGE);
  }
}
