import { parseArgs } from 'node:util';
import { CliError } from '../errors.js';

/** `switchboard worker`: a cluster fan-out worker alone, until SIGTERM or SIGINT. */
export async function worker(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'log-level': { type: 'string' } } });
  const { startWorker, loadConfig } = await import('@switchboard/server');
  let config;
  try {
    config = loadConfig(values['log-level'] ? { logLevel: values['log-level'] as 'info' } : {});
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  let running;
  try {
    running = await startWorker(config);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const stop = () =>
    void running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}
