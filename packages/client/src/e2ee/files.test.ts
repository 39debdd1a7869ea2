import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAppMessage, encodeAppMessage, type EncryptedFile } from './app-message.js';
import { decryptFile, encryptFile } from './file-crypto.js';

/*
 * docs/e2ee.md "Files" and "Inside the ciphertext": what the SDK does on its own, without a
 * server (the round trip through real servers is packages/e2e/src/e2ee-support.ts).
 */

test('every file gets a fresh key and IV; the SHA-256 and the GCM tag refuse altered bytes', async () => {
  const plain = new Uint8Array(1000).fill(7);
  const a = await encryptFile(plain);
  const b = await encryptFile(plain);
  assert.notEqual(a.key.key, b.key.key);
  assert.notEqual(a.key.iv, b.key.iv);
  assert.equal(Buffer.from(a.key.key, 'base64').length, 32);
  assert.equal(Buffer.from(a.key.iv, 'base64').length, 12);
  assert.equal(a.ciphertext.length, plain.length + 16);
  assert.deepEqual(await decryptFile(a.ciphertext, a.key), plain);
  const altered = a.ciphertext.slice();
  altered[10]! ^= 1;
  await assert.rejects(decryptFile(altered, a.key), /SHA-256 mismatch/);
  // A matching digest of altered bytes (a sender's own lie, say) still fails the tag.
  const digest = Buffer.from(await crypto.subtle.digest('SHA-256', altered)).toString('base64');
  await assert.rejects(decryptFile(altered, { ...a.key, sha256: digest }));
});

test('files inside the ciphertext: known fields kept, malformed entries and thumbnails dropped', () => {
  const file: EncryptedFile = {
    media_id: 'm1',
    key: 'k',
    iv: 'i',
    sha256: 's',
    name: 'a.pdf',
    content_type: 'application/pdf',
    size: 10,
    thumbnail: { media_id: 'm2', key: 'k2', iv: 'i2', sha256: 's2', content_type: 'image/jpeg', size: 3, width: 4, height: 5 },
  };
  assert.deepEqual(decodeAppMessage(encodeAppMessage({ kind: 'text', text: 'x', files: [file] })), {
    kind: 'text',
    text: 'x',
    files: [file],
  });
  const body = {
    t: '',
    f: [{ ...file, extra: 1, thumbnail: { ...file.thumbnail, size: 'big' } }, { ...file, key: 5 }, 'nonsense'],
  };
  const { thumbnail: _, ...bare } = file;
  assert.deepEqual(decodeAppMessage(new TextEncoder().encode(JSON.stringify(body))), { kind: 'text', text: '', files: [bare] });
});
