import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCost, isVerifiedImage, servedType, sniffImage } from './media-inspect.js';
import { isInline, normalizeType, safeType } from './media-types.js';
import { dispositionFor } from './media.js';

test('magic numbers decide what an image upload is served as', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
  const webp = Buffer.from('RIFF\x00\x00\x00\x00WEBPVP8 ', 'latin1');
  assert.equal(sniffImage(png), 'image/png');
  assert.equal(sniffImage(jpeg), 'image/jpeg');
  assert.equal(sniffImage(webp), 'image/webp');
  assert.equal(sniffImage(Buffer.from('<svg')), null);
  assert.equal(servedType('image/png', png), 'image/png');
  assert.equal(servedType('IMAGE/PNG', png), 'image/png');
  // Not what was declared: served as declared all the same (and never measured or thumbnailed).
  assert.equal(servedType('image/png', jpeg), 'image/png');
  assert.equal(servedType('image/jpeg', Buffer.from('<html>')), 'image/jpeg');
  assert.equal(isVerifiedImage('image/png', png), true);
  assert.equal(isVerifiedImage('image/png', jpeg), false);
  assert.equal(isVerifiedImage('image/gif', png), false, 'only the measured types are verified');
  assert.equal(servedType('text/plain; charset=utf-8', png), 'text/plain; charset=utf-8', 'other types are served as declared');
});

test('only types a browser shows without running anything are inline', () => {
  assert.equal(dispositionFor('image/png', null), 'inline');
  assert.equal(dispositionFor('video/mp4', 'a b.mp4'), "inline; filename*=UTF-8''a%20b.mp4");
  for (const t of ['text/html', 'image/svg+xml', 'application/javascript', 'text/xml', 'application/xhtml+xml', 'application/octet-stream'])
    assert.match(dispositionFor(t, null), /^attachment/, t);
  assert.equal(dispositionFor('text/html', "it's.html"), "attachment; filename*=UTF-8''it%27s.html");
});

test('content types: parsed by RFC 9110, kept as type/subtype (a text charset besides); the rest refused', () => {
  assert.equal(normalizeType('Text/Plain; Charset="UTF-8"; format=flowed'), 'text/plain; charset=utf-8');
  assert.equal(normalizeType('image/PNG; q=1'), 'image/png');
  assert.equal(normalizeType('application/json; charset=utf-8'), 'application/json', 'a charset is kept for text/* only');
  for (const bad of [
    'text/plain;, text/html',
    'text/plain, text/html',
    'text/plain\n',
    'text/plain; x=\u0001',
    'text',
    'text/',
    '/html',
    'a b/c',
    'text/plain; charset',
    'téxt/plain',
  ])
    assert.equal(normalizeType(bad), null, JSON.stringify(bad));
  assert.equal(safeType('text/html; x=\u0001'), 'application/octet-stream');
  assert.equal(isInline('text/plain; charset=utf-8'), true);
  assert.equal(isInline('image/svg+xml'), false);
});

test("an image's decoding cost comes from its header; interlacing doubles it", () => {
  assert.equal(decodeCost({ width: 7070, height: 7070, channels: 4, depth: 'ushort', isProgressive: true }), 2 * 7070 * 7070 * 8);
  assert.equal(decodeCost({ width: 6000, height: 4000, channels: 3, depth: 'uchar', isProgressive: false }), 72_000_000);
});
