import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { directChatId } from '@switchboard/protocol';
import { http, registerUser, suiteServer, TestSocket } from '../testing/harness.js';
import { clusterServicesMissing } from '../testing/services.js';
import { clusterSuite } from '../testing/cluster.js';

/*
 * Look-alike names: display names, device names, group names and media file names refuse
 * Unicode Bidi_Control characters with 400 invalid_request (U+202E turns
 * `invoice\u202Efdp.exe` into what reads as "invoiceexe.pdf"), the same in embedded and
 * cluster mode; nothing is stored. Right-to-left letters themselves are fine, and message
 * content may carry the controls (right-to-left prose needs them; clients isolate it).
 */

const CONTROLS = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];
const hex = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

function assertRefused(res: { status: number; body: any }, field: string, label: string): void {
  assert.equal(res.status, 400, `${label}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error, 'invalid_request', label);
  assert.match(String(res.body?.message), new RegExp(`^${field}: .*bidirectional control`), label);
}

let n = 0;
const uname = (p: string) => `${p}_${process.pid % 10000}_${++n}_${Math.floor(Math.random() * 1e6)}`.slice(0, 32);

function nameCases(base: () => string, wsUrl: () => string): void {
  test('display names with a bidirectional control are refused; the account is not created; RTL letters are fine', async () => {
    for (const c of CONTROLS) {
      const username = uname('bidi');
      const res = await http(base(), 'POST', '/v1/users', {
        body: { username, password: 'correct horse battery', display_name: `ab${c}cd` },
      });
      assertRefused(res, 'display_name', hex(c));
      // Not taken: the same username registers with a clean name.
      const clean = await http(base(), 'POST', '/v1/users', {
        body: { username, password: 'correct horse battery', display_name: 'abcd' },
      });
      assert.equal(clean.status, 201, `${hex(c)}: ${JSON.stringify(clean.body)}`);
    }
    const rtl = 'שלום עולם مرحبا';
    const res = await http(base(), 'POST', '/v1/users', {
      body: { username: uname('rtl'), password: 'correct horse battery', display_name: rtl },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.display_name, rtl);
  });

  test('a device name with a bidirectional control is refused at login, and no session is made', async () => {
    const u = await registerUser(base(), 'bidid');
    const res = await http(base(), 'POST', '/v1/sessions', {
      body: { username: u.username, password: u.password, device_name: 'phone\u202Eenohp' },
    });
    assertRefused(res, 'device_name', 'device_name');
    const devices = await http(base(), 'GET', '/v1/devices', { token: u.token });
    assert.equal(devices.body.devices.length, 1, JSON.stringify(devices.body));
  });

  test('group names with a bidirectional control are refused on create and rename; the name stays', async () => {
    const [a, b] = await Promise.all([registerUser(base(), 'bidga'), registerUser(base(), 'bidgb')]);
    for (const c of ['\u202e', '\u2067', '\u200f']) {
      const res = await http(base(), 'POST', '/v1/groups', { token: a.token, body: { name: `team${c}maet`, member_ids: [b.user_id] } });
      assertRefused(res, 'name', `create ${hex(c)}`);
    }
    const made = await http(base(), 'POST', '/v1/groups', { token: a.token, body: { name: 'team', member_ids: [b.user_id] } });
    assert.equal(made.status, 201);
    const renamed = await http(base(), 'PATCH', `/v1/groups/${made.body.group_id}`, {
      token: a.token,
      body: { name: 'evil\u202Egnp.exe' },
    });
    assertRefused(renamed, 'name', 'rename');
    assert.equal((await http(base(), 'GET', `/v1/groups/${made.body.group_id}`, { token: b.token })).body.name, 'team');
  });

  test('a media file name with a bidirectional control is refused; a clean one is accepted', async () => {
    const u = await registerUser(base(), 'bidm');
    const body = (filename: string) => ({ content_type: 'application/pdf', size: 10, filename });
    assertRefused(await http(base(), 'POST', '/v1/media', { token: u.token, body: body('invoice\u202Efdp.exe') }), 'filename', 'U+202E');
    assertRefused(await http(base(), 'POST', '/v1/media', { token: u.token, body: body('report\u2066.pdf') }), 'filename', 'U+2066');
    const ok = await http(base(), 'POST', '/v1/media', { token: u.token, body: body('invoice.pdf') });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  test('message content keeps its bidirectional controls (prose needs them)', async () => {
    const [a, b] = await Promise.all([registerUser(base(), 'bidca'), registerUser(base(), 'bidcb')]);
    const sock = await TestSocket.connectSynced(wsUrl(), a.token);
    try {
      const text = 'quote: \u2067مرحبا\u2069 ok \u202Ebackwards';
      const ack = await sock.sendMessage(directChatId(a.user_id, b.user_id), text);
      assert.equal(ack.type, 'ack_sent', JSON.stringify(ack));
      const hist = await http(base(), 'GET', `/v1/chats/${encodeURIComponent(ack.chat_id)}/messages`, { token: b.token });
      assert.equal(hist.body.messages.at(-1).content, text);
    } finally {
      sock.terminate();
    }
  });
}

describe('names: embedded', () => {
  const { srv } = suiteServer();
  nameCases(
    () => srv.baseUrl,
    () => srv.wsUrl,
  );
});

const missing = await clusterServicesMissing();

describe('names: cluster', { skip: missing ?? false }, () => {
  const { nodes } = clusterSuite(1);
  nameCases(
    () => nodes[0]!.baseUrl,
    () => nodes[0]!.wsUrl,
  );
});
