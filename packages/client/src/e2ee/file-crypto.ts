import { fromBase64, toBase64 } from './mls.js';

/*
 * Client-side encryption of the files of an encrypted chat (docs/e2ee.md "Files"): each file
 * (and each thumbnail) gets a fresh AES-256-GCM key and 12-byte IV, and its ciphertext's
 * SHA-256. The key travels inside the MLS ciphertext (EncryptedFile); the server stores only
 * the opaque bytes. WebCrypto: browsers (secure contexts) and Node 20 alike.
 */

/** The key material of one encrypted file, base64, as EncryptedFile carries it. */
export interface FileKey {
  key: string;
  iv: string;
  /** SHA-256 of the ciphertext. */
  sha256: string;
}

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('encrypted files need WebCrypto (crypto.subtle: a secure context in a browser)');
  return s;
};

// WebCrypto's typings want ArrayBuffer-backed views: copy into one (also detaches from a caller's buffer).
const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

/** Encrypts `plain` under a fresh key and IV; answers the ciphertext and what opens it. */
export async function encryptFile(plain: Uint8Array): Promise<{ ciphertext: Uint8Array; key: FileKey }> {
  const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const key = await subtle().importKey('raw', raw, 'AES-GCM', false, ['encrypt']);
  const ciphertext = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv }, key, own(plain)));
  const digest = new Uint8Array(await subtle().digest('SHA-256', ciphertext));
  return { ciphertext, key: { key: toBase64(raw), iv: toBase64(iv), sha256: toBase64(digest) } };
}

/** Opens what encryptFile made: the SHA-256 is checked first (an altered download fails here), then AES-GCM's tag. */
export async function decryptFile(ciphertext: Uint8Array, k: FileKey): Promise<Uint8Array> {
  const bytes = own(ciphertext);
  const digest = toBase64(new Uint8Array(await subtle().digest('SHA-256', bytes)));
  if (digest !== k.sha256) throw new Error('encrypted file: SHA-256 mismatch (the bytes were altered in the store or on the way)');
  const key = await subtle().importKey('raw', own(fromBase64(k.key)), 'AES-GCM', false, ['decrypt']);
  return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: own(fromBase64(k.iv)) }, key, bytes));
}
