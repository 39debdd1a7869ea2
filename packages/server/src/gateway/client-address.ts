import type { IncomingMessage } from 'node:http';

/**
 * The address per-address limits count against: the socket's peer, or with TRUST_PROXY
 * the last X-Forwarded-For entry (the one our proxy appended; earlier entries are
 * whatever the client claimed). IPv6 addresses count per /64, the block one subscriber
 * usually holds; IPv4-mapped IPv6 counts as the IPv4 address.
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  let address = req.socket.remoteAddress ?? 'unknown';
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    address = entries.at(-1) ?? address;
  }
  return addressKey(address);
}

/**
 * Whether the client reached us over TLS, as far as we can tell: with TRUST_PROXY, the
 * proxy's X-Forwarded-Proto: https (its last entry, like X-Forwarded-For); without it
 * the header is the client's own claim and is ignored (a URL we hand back, ws_url or a
 * media link, must not take its scheme from whoever asks).
 */
export function forwardedHttps(req: IncomingMessage, trustProxy: boolean): boolean {
  if (!trustProxy) return false;
  const header = req.headers['x-forwarded-proto'];
  const last = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').at(-1)?.trim().toLowerCase();
  return last === 'https';
}

export function addressKey(address: string): string {
  let a = address.toLowerCase();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  a = a.replace(/%.*$/, ''); // a zone id names a local interface, not the peer
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  if (!a.includes(':')) return a;
  const [head = '', tail] = a.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array.from({ length: Math.max(0, 8 - headGroups.length - tailGroups.length) }, () => '0');
  const groups = [...headGroups, ...zeros, ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
