import { parseArgs } from 'node:util';
import { CliError } from '../errors.js';

/** `switchboard serve`: runs the server until SIGTERM or SIGINT. */
export async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  // Imported here so that client commands do not load the server and its native store.
  const { startServer, loadConfig } = await import('@switchboard/server');
  const overrides: Parameters<typeof loadConfig>[0] = {};
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port)) throw new CliError(`--port: not a port number: ${values.port}`);
    overrides.port = port;
  }
  if (values.host !== undefined) overrides.host = values.host;
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir'];
  if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'] as NonNullable<typeof overrides.logLevel>;
  let config;
  try {
    config = loadConfig(overrides);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const server = await startServer(config);
  // A safety net: the server catches what it expects; anything else is logged, not fatal.
  process.on('unhandledRejection', (err) => {
    process.stderr.write(
      `${JSON.stringify({ level: 50, time: Date.now(), msg: 'unhandled rejection', err: String((err as Error)?.stack ?? err) })}\n`,
    );
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`switchboard: error during shutdown after ${signal}: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Under `npm start` (which execs this process), npm is the parent and passes SIGTERM on.
  // If npm is killed outright (SIGKILL, which it cannot pass on), this process is orphaned:
  // stop too, instead of holding the port and the data folder for a server nobody runs.
  if (process.env.npm_lifecycle_event === 'start') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) shutdown('the parent process (npm start) exited');
    }, 250).unref();
  }
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}
