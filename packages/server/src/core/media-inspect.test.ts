import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVerifiedImage, servedType, sniffImage } from './media-inspect.js';
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
