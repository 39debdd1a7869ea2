import { randomBytes, scrypt, timingSafeEqual, createHash } from 'node:crypto';
import { Algorithm, hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';

/*
 * Passwords are stored as argon2id PHC strings ($argon2id$v=19$m=KIB,t=2,p=1$salt$hash),
 * OWASP's first choice (m=19 MiB, t=2, p=1 by default). argon2id comes from @node-rs/argon2
 * (prebuilt native binding, hashes on libuv's pool) because Node 20 has no argon2 of its
 * own. At OWASP's settings it costs about a tenth of the CPU and a seventh of the memory of
 * OWASP's scrypt equivalent (N=2^17), so a server can take a sign-up burst without every
 * login waiting behind it. Hashes from earlier versions (scrypt$N$r$p$salt$hash) still
 * verify and are replaced at the next successful login. Tokens are stored as their SHA-256
 * (they are random, so no salt is needed).
 */

/** OWASP's argon2id iterations and lanes; the memory (KiB) is the setting PASSWORD_HASH_KIB. */
const ITERATIONS = 2;
const LANES = 1;

export async function hashPassword(password: string, memoryKib: number): Promise<string> {
  return argon2Hash(password, { algorithm: Algorithm.Argon2id, memoryCost: memoryKib, timeCost: ITERATIONS, parallelism: LANES });
}

/**
 * Whether a stored hash is weaker than what `memoryKib` asks for now (scrypt from an older
 * version, or argon2id with less memory or fewer iterations): the login that proves the
 * password rehashes it. A stronger one is kept.
 */
export function needsRehash(stored: string, memoryKib: number): boolean {
  const params = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
  if (!params) return true;
  return Number(params[1]) < memoryKib || Number(params[2]) < ITERATIONS;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith('$argon2')) {
    try {
      return await argon2Verify(stored, password);
    } catch {
      return false; // a malformed stored hash matches nothing
    }
  }
  return verifyScrypt(password, stored);
}

/** Hashes made before argon2id: scrypt$N$r$p$salt$hash. */
async function verifyScrypt(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const N = Number(n);
  const R = Number(r);
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(
      password,
      Buffer.from(salt, 'base64'),
      expected.length,
      { N, r: R, p: Number(p), maxmem: 256 * N * R + 1024 * 1024 },
      (err, k) => (err ? reject(err) : resolve(k)),
    ),
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A legacy scrypt hash, as versions before argon2id stored them (tests make accounts from before the change with it). */
export async function legacyScryptHash(password: string, n: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, 32, { N: n, r: 8, p: 1, maxmem: 256 * n * 8 + 1024 * 1024 }, (err, k) => (err ? reject(err) : resolve(k))),
  );
  return `scrypt$${n}$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
