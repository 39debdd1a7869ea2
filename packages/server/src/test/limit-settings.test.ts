import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config.js';
import { DEFAULT_LIMITS, limitEnvName } from '../core/limit-settings.js';
import { addressKey } from '../gateway/client-address.js';

/* Small pure parts of the limits: their settings from the environment, and how a client address is counted. */

test('limits come from LIMIT_* variables over the defaults; RATE_LIMITS=off and TRUST_PROXY are read', () => {
  const config = loadConfig(
    {},
    { LIMIT_SENDS: '50:2.5', LIMIT_SOCKETS_PER_USER: '7', PASSWORD_HASH_QUEUE: '9', RATE_LIMITS: 'off', TRUST_PROXY: '1' },
  );
  assert.deepEqual(config.limits.sends, { capacity: 50, perSecond: 2.5 });
  assert.equal(config.limits.socketsPerUser, 7);
  assert.equal(config.limits.passwordHashQueue, 9);
  assert.deepEqual(config.limits.sendBytes, DEFAULT_LIMITS.sendBytes, 'unset limits keep their defaults');
  assert.equal(config.rateLimits, false);
  assert.equal(config.trustProxy, true);
  const plain = loadConfig({}, {});
  assert.equal(plain.rateLimits, true);
  assert.equal(plain.trustProxy, false);
  assert.deepEqual(plain.limits, DEFAULT_LIMITS);
  assert.throws(() => loadConfig({}, { LIMIT_SENDS: '50' }), /LIMIT_SENDS: expected BURST:PER_SECOND/);
  assert.throws(() => loadConfig({}, { LIMIT_SENDS: '50:0' }), /LIMIT_SENDS/);
  assert.throws(() => loadConfig({}, { LIMIT_SOCKETS_PER_DEVICE: 'many' }), /LIMIT_SOCKETS_PER_DEVICE/);
});

test('the Delivery Service buckets (docs/e2ee.md "Limits") are LIMIT_MLS_* variables', () => {
  assert.equal(limitEnvName('mlsClaims'), 'LIMIT_MLS_CLAIMS');
  assert.equal(limitEnvName('mlsClaimsPerTarget'), 'LIMIT_MLS_CLAIMS_PER_TARGET');
  assert.equal(limitEnvName('mlsKeyPackageUploads'), 'LIMIT_MLS_KEY_PACKAGE_UPLOADS');
  assert.equal(limitEnvName('mlsCommits'), 'LIMIT_MLS_COMMITS');
  assert.equal(limitEnvName('mlsCommitBytes'), 'LIMIT_MLS_COMMIT_BYTES');
  const config = loadConfig({}, { LIMIT_MLS_CLAIMS_PER_TARGET: '4:0.01', LIMIT_MLS_COMMIT_BYTES: '1000000:5000' });
  assert.deepEqual(config.limits.mlsClaimsPerTarget, { capacity: 4, perSecond: 0.01 });
  assert.deepEqual(config.limits.mlsCommitBytes, { capacity: 1_000_000, perSecond: 5000 });
  assert.deepEqual(config.limits.mlsClaims, DEFAULT_LIMITS.mlsClaims);
  // Adding a full group (1,024 members) claims every member at once: the burst must cover it.
  assert.ok(DEFAULT_LIMITS.mlsClaims.capacity >= 1024);
});

test('client addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 per /64', () => {
  assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8:1:2::9'), '2001:db8:1:2::/64', 'the same subscriber block');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('[fe80::1%eth0]'), 'fe80:0:0:0::/64');
});
