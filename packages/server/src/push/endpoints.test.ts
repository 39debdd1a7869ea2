import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndpointAllowList, redactEndpoint } from './endpoints.js';

test('the Web Push allow-list compares parsed URLs: origin, then path prefix; *. matches subdomains only', () => {
  const list = new EndpointAllowList(['https://fcm.googleapis.com/', 'https://*.notify.windows.com/', 'https://127.0.0.1:9443/wp/']);
  for (const ok of [
    'https://fcm.googleapis.com/fcm/send/abc',
    'https://wns2-par02p.notify.windows.com/w/?token=x',
    'https://127.0.0.1:9443/wp/123',
  ])
    assert.equal(list.check(ok), null, ok);
  for (const bad of [
    'http://fcm.googleapis.com/fcm/send/abc', // not https
    'https://fcm.googleapis.com.evil.example/x', // a longer host
    'https://fcm.googleapis.com@evil.example/x', // credentials
    'https://notify.windows.com/x', // the wildcard needs a subdomain
    'https://evilnotify.windows.com/x',
    'https://127.0.0.1:9444/wp/123', // another port
    'https://127.0.0.1:9443/other/123', // another path
    'not a url',
  ])
    assert.notEqual(list.check(bad), null, bad);
  // A plain-http prefix allowed on purpose (a local test service) is honoured.
  assert.equal(new EndpointAllowList(['http://127.0.0.1:8000/']).check('http://127.0.0.1:8000/push/1'), null);
  assert.equal(redactEndpoint('https://fcm.googleapis.com/fcm/send/secret-token'), 'https://fcm.googleapis.com/…');
});
