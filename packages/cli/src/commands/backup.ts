import { parseArgs } from 'node:util';
import { CliError } from '../errors.js';

type Overrides = Parameters<typeof import('@switchboard/server').loadConfig>[0];

/** DATA_DIR (or --data-dir) as the server would read it; cluster mode has no data folder to back up. */
async function embeddedDataDir(dataDir: string | undefined, what: string): Promise<string> {
  const { loadConfig } = await import('@switchboard/server');
  const overrides: Overrides = dataDir === undefined ? {} : { dataDir };
  let config;
  try {
    config = loadConfig(overrides);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (config.redisUrl && config.databaseUrl)
    throw new CliError(
      `${what} is for an embedded server; a cluster is backed up with pg_dump and the object store's own tools (README "Backups")`,
    );
  return config.dataDir;
}

/** `switchboard backup FILE`: a consistent copy of an embedded server's data, taken while it serves. */
export async function backup(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'data-dir': { type: 'string' } } });
  const [file] = positionals;
  if (!file || positionals.length > 1) throw new CliError('usage: switchboard backup FILE [--data-dir D]');
  const dataDir = await embeddedDataDir(values['data-dir'], 'backup');
  const { backupDataDir } = await import('@switchboard/server');
  try {
    const done = await backupDataDir(dataDir, file);
    process.stdout.write(
      `backed up ${dataDir} to ${done.file}: ${done.bytes} bytes, ${done.mediaObjects} media objects, schema ${done.schemaVersion}\n`,
    );
  } catch (err) {
    throw new CliError(`backup failed: ${(err as Error).message}`);
  }
  return 0;
}

/** `switchboard restore FILE`: puts a backup into a data folder (an empty or new one, unless --force). */
export async function restore(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'data-dir': { type: 'string' }, force: { type: 'boolean' } },
  });
  const [file] = positionals;
  if (!file || positionals.length > 1) throw new CliError('usage: switchboard restore FILE [--data-dir D] [--force]');
  const dataDir = await embeddedDataDir(values['data-dir'], 'restore');
  const { restoreDataDir } = await import('@switchboard/server');
  try {
    const done = await restoreDataDir(file, dataDir, { force: values.force ?? false });
    process.stdout.write(`restored ${file} into ${dataDir}: ${done.mediaObjects} media objects, schema ${done.schemaVersion}\n`);
  } catch (err) {
    throw new CliError(`restore failed: ${(err as Error).message}`);
  }
  return 0;
}
