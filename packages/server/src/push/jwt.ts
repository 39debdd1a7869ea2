import { sign, type KeyObject } from 'node:crypto';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/**
 * A signed JWT (RFC 7519) with node's crypto: ES256 (APNs provider tokens, signature in
 * JOSE's raw r||s form) or RS256 (Google's OAuth assertion). No JWT library needed.
 */
export function signJwt(
  alg: 'ES256' | 'RS256',
  key: KeyObject,
  claims: Record<string, unknown>,
  header: Record<string, string> = {},
): string {
  const input = `${b64url(JSON.stringify({ alg, typ: 'JWT', ...header }))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return `${input}.${b64url(signature)}`;
}
