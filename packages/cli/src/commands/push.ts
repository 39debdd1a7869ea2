import { SwitchboardClient, SwitchboardHttpError, type PushTargetBody } from '@switchboard/client';
import { sessionClient } from '../context.js';
import { CliError } from '../errors.js';

const USAGE = `usage:
  switchboard push webpush <endpoint> <p256dh> <auth>   or: switchboard push webpush '<subscription JSON>'
  switchboard push apns <device token> [--sandbox]
  switchboard push fcm <registration token>
  switchboard push off                                  this device gets no more pushes
  switchboard push key                                  prints the server's VAPID public key`;

/** Registers a push target for the logged-in device: for trying a device or a provider setup by hand. */
export async function push(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { client, session } = sessionClient();
  const call = async (fn: () => Promise<void>, done: string) => {
    try {
      await fn();
    } catch (err) {
      // The server's message says what was wrong with the target (an endpoint not allowed, a provider not configured).
      if (err instanceof SwitchboardHttpError) {
        const message = (err.body as { message?: string } | null)?.message;
        throw new CliError(`push: ${err.status} ${err.code}${message ? `: ${message}` : ''}`);
      }
      throw err;
    }
    process.stdout.write(`${done}\n`);
  };
  let target: PushTargetBody;
  switch (sub) {
    case 'key':
      process.stdout.write(`${await SwitchboardClient.webPushKey(session.server)}\n`);
      return 0;
    case 'off':
      await call(() => client.unregisterPush(), 'push off for this device');
      return 0;
    case 'webpush': {
      if (rest.length === 1) {
        let parsed: { endpoint?: string; keys?: { p256dh?: string; auth?: string } };
        try {
          parsed = JSON.parse(rest[0]!) as typeof parsed;
        } catch {
          throw new CliError(USAGE);
        }
        target = {
          provider: 'webpush',
          subscription: { endpoint: parsed.endpoint ?? '', keys: { p256dh: parsed.keys?.p256dh ?? '', auth: parsed.keys?.auth ?? '' } },
        };
      } else {
        const [endpoint, p256dh, auth] = rest;
        if (!endpoint || !p256dh || !auth) throw new CliError(USAGE);
        target = { provider: 'webpush', subscription: { endpoint, keys: { p256dh, auth } } };
      }
      break;
    }
    case 'apns': {
      const token = rest.find((a) => !a.startsWith('--'));
      if (!token) throw new CliError(USAGE);
      target = { provider: 'apns', token, environment: rest.includes('--sandbox') ? 'sandbox' : 'production' };
      break;
    }
    case 'fcm': {
      if (!rest[0]) throw new CliError(USAGE);
      target = { provider: 'fcm', token: rest[0] };
      break;
    }
    default:
      throw new CliError(USAGE);
  }
  await call(() => client.registerPush(target), `push target registered (${target.provider}) for device ${session.device_id}`);
  return 0;
}
