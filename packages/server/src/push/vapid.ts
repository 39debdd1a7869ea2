import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/**
 * The server's VAPID key pair: from VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY when set;
 * otherwise generated once and kept, in DATA_DIR/vapid.json (mode 0600) when embedded,
 * or in Redis when clustered (`shared`: the first node's pair wins), so every node
 * signs with the key browsers subscribed with.
 */
export async function loadVapidKeys(opts: {
  publicKey?: string;
  privateKey?: string;
  subject: string;
  dataDir: string;
  mode: 'embedded' | 'cluster';
  shared: (name: string, candidate: string) => Promise<string>;
}): Promise<VapidKeys> {
  const { subject } = opts;
  if (opts.publicKey || opts.privateKey) {
    if (!opts.publicKey || !opts.privateKey) throw new Error('set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither');
    return checked({ publicKey: opts.publicKey, privateKey: opts.privateKey, subject });
  }
  if (opts.mode === 'cluster') {
    const pair = JSON.parse(await opts.shared('vapid', JSON.stringify(webpush.generateVAPIDKeys()))) as webpush.VapidKeys;
    return checked({ ...pair, subject });
  }
  const file = path.join(opts.dataDir, 'vapid.json');
  let pair: webpush.VapidKeys;
  try {
    pair = JSON.parse(readFileSync(file, 'utf8')) as webpush.VapidKeys;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    pair = webpush.generateVAPIDKeys();
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(pair), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // whatever the umask
  }
  return checked({ ...pair, subject });
}

/** web-push validates the pair and subject (a mailto: or https: URL); fail at start, not on the first push. */
function checked(keys: VapidKeys): VapidKeys {
  try {
    webpush.getVapidHeaders('https://push.example', keys.subject, keys.publicKey, keys.privateKey, 'aes128gcm');
  } catch (err) {
    throw new Error(`invalid VAPID settings: ${(err as Error).message}`, { cause: err });
  }
  return keys;
}
