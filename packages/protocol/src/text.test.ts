import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddMembersBody,
  CreateGroupBody,
  CreateMediaBody,
  hasBidiControl,
  withoutBidiControls,
  CreateSessionBody,
  CreateUserBody,
  RenameGroupBody,
  isStorableText,
  parseClientFrame,
  storableText,
  UNSTORABLE_TEXT_MESSAGE,
} from './index.js';

/*
 * Storable text (text.ts): no NUL and no unpaired UTF-16 surrogate, in every user-supplied
 * string of the frame and REST schemas; everything else (tabs, newlines, other control
 * characters, emoji, astral characters) passes unchanged.
 */

const HIGH = '\ud83d';
const LOW = '\ude00';
const EMOJI = HIGH + LOW; // 😀

const storable = [
  '',
  'hello',
  'tab\there',
  'new\nline\r\n',
  '\u0001\u0007\u001f\u007f',
  'é ß 中文 עברית',
  EMOJI,
  `a${EMOJI}b${EMOJI}`,
  '\ud800\udc00',
  '\udbff\udfff',
  '\ufffd',
  '\uffff',
  '\u2028\u2029',
];
const unstorable = [
  '\u0000',
  'a\u0000b',
  'end\u0000',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  `x${HIGH}`,
  `${LOW}x`,
  `${LOW}${HIGH}`, // a pair in the wrong order is two lone halves
  `${HIGH}${HIGH}${LOW}`, // the first high surrogate is unpaired
  `${HIGH}${LOW}${LOW}`, // the second low surrogate is unpaired
  `${EMOJI}\u0000${EMOJI}`,
];

describe('isStorableText', () => {
  it('accepts text with control characters other than NUL and with valid surrogate pairs', () => {
    for (const s of storable) assert.equal(isStorableText(s), true, JSON.stringify(s));
  });

  it('refuses NUL and every unpaired surrogate', () => {
    for (const s of unstorable) assert.equal(isStorableText(s), false, JSON.stringify(s));
  });

  it('has no state between calls (the same answer twice in a row)', () => {
    for (const s of [...storable, ...unstorable]) assert.equal(isStorableText(s), isStorableText(s), JSON.stringify(s));
  });

  it('agrees with String.prototype.isWellFormed about surrogates, where the runtime has it', (t) => {
    const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
    if (typeof isWellFormed !== 'function') return t.skip('String.prototype.isWellFormed is not available');
    const samples = [...storable, ...unstorable];
    // Every string of up to three units drawn from the interesting code units.
    const units = ['a', '\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ufffd'];
    for (const a of units) for (const b of units) for (const c of ['', ...units]) samples.push(a + b + c);
    for (const s of samples) {
      assert.equal(isStorableText(s), isWellFormed.call(s) && !s.includes('\u0000'), JSON.stringify(s));
    }
  });

  it('runs in linear time on a long string', () => {
    const long = EMOJI.repeat(500_000) + 'x'.repeat(1_000_000);
    const t0 = performance.now();
    assert.equal(isStorableText(long), true);
    assert.equal(isStorableText(long + '\u0000'), false);
    assert.equal(isStorableText(long + HIGH), false);
    assert.ok(performance.now() - t0 < 2000, 'checked 2 M units three times within 2 s');
  });
});

describe('storableText()', () => {
  it('keeps the string as given and composes with min/max', () => {
    const schema = storableText().min(1).max(4);
    assert.equal(schema.parse(EMOJI), EMOJI);
    assert.equal(schema.safeParse('').success, false);
    assert.equal(schema.safeParse('12345').success, false);
    const bad = schema.safeParse('a\u0000');
    assert.equal(bad.success, false);
    assert.equal(bad.error?.issues[0]?.message, UNSTORABLE_TEXT_MESSAGE);
  });
});

/** A raw frame as a client would put it on the wire: lone surrogates appear as JSON escapes. */
function raw(frame: Record<string, unknown>): string {
  return JSON.stringify(frame);
}

describe('parseClientFrame with unstorable text', () => {
  const chat = 'dm:u1:u2';

  it('JSON.stringify writes a lone surrogate as an escape, and JSON.parse reads it back unchanged', () => {
    assert.equal(JSON.stringify('\ud800'), '"\\ud800"');
    assert.equal(JSON.stringify('\u0000'), '"\\u0000"');
    assert.equal(JSON.parse('"\\ud800"'), '\ud800');
  });

  it('refuses a send whose content has NUL or a lone surrogate, carrying its client_msg_id', () => {
    for (const content of ['hi\u0000there', `hi${HIGH}`, `${LOW}hi`, '\u0000']) {
      const r = parseClientFrame(raw({ type: 'send_message', chat_id: chat, client_msg_id: 'cm-1', content }));
      assert.equal(r.ok, false, JSON.stringify(content));
      if (r.ok) continue;
      assert.equal(r.client_msg_id, 'cm-1');
      assert.match(r.message, /^send_message: content: must not contain NUL/);
    }
    // The escape text written by hand, as another client library might send it.
    const r = parseClientFrame('{"type":"send_message","chat_id":"dm:u1:u2","client_msg_id":"cm-2","content":"x\\udfffy"}');
    assert.deepEqual(r, { ok: false, message: `send_message: content: ${UNSTORABLE_TEXT_MESSAGE}`, client_msg_id: 'cm-2' });
  });

  it('accepts content with tabs, newlines, control characters and emoji, unchanged', () => {
    const content = `line 1\n\tline 2\u0001 ${EMOJI}`;
    const r = parseClientFrame(raw({ type: 'send_message', chat_id: chat, client_msg_id: 'cm-3', content }));
    assert.ok(r.ok);
    assert.equal(r.ok && r.frame.type === 'send_message' && r.frame.content, content);
  });

  it('refuses unstorable ids in every frame that carries them', () => {
    const frames = [
      { type: 'send_message', chat_id: 'dm:u1\u0000:u2', client_msg_id: 'cm-4', content: 'hi' },
      { type: 'send_message', chat_id: chat, client_msg_id: `cm${HIGH}`, content: 'hi' },
      { type: 'ack_delivered', message_id: 'm\u0000' },
      { type: 'ack_delivered', message_ids: ['m1', `m${LOW}`] },
      { type: 'ack_read', chat_id: `g:${HIGH}`, last_read_message_id: 'm1' },
      { type: 'ack_read', chat_id: chat, last_read_message_id: 'm\u0000' },
      { type: 'typing', chat_id: 'g:\u0000', state: 'composing' },
      { type: 'presence_subscribe', user_ids: ['u1', 'u\u0000'] },
      { type: 'presence_unsubscribe', user_ids: [LOW] },
    ];
    for (const f of frames) {
      const r = parseClientFrame(raw(f));
      assert.equal(r.ok, false, JSON.stringify(f));
      if (!r.ok) assert.ok(r.message.includes(UNSTORABLE_TEXT_MESSAGE), r.message);
    }
  });

  it('still carries the client_msg_id of a send whose chat_id is unstorable', () => {
    const r = parseClientFrame(raw({ type: 'send_message', chat_id: `g:${HIGH}`, client_msg_id: 'cm-5', content: 'hi' }));
    assert.equal(!r.ok && r.client_msg_id, 'cm-5');
  });
});

describe('REST bodies with unstorable text', () => {
  type Schema = { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } };
  /** The body is refused with an issue on `field` (by the storable-text rule unless `message` says otherwise). */
  const refused = (schema: Schema, body: unknown, field: string, message: string = UNSTORABLE_TEXT_MESSAGE) => {
    const r = schema.safeParse(body);
    assert.equal(r.success, false, `${field}: ${JSON.stringify(body)}`);
    const issue = r.error!.issues.find((i) => i.path[0] === field);
    assert.ok(issue, `${field}: ${JSON.stringify(r.error!.issues)}`);
    assert.equal(issue.message, message);
  };

  it('refuses NUL or a lone surrogate in every stored or looked-up field', () => {
    const pw = 'long enough password';
    // Usernames were already limited to a-z 0-9 _ . by their pattern.
    refused(CreateUserBody, { username: 'ab\u0000c', password: pw }, 'username', 'username must be 3 to 32 of a-z 0-9 _ .');
    refused(CreateUserBody, { username: `abc${HIGH}`, password: pw }, 'username', 'username must be 3 to 32 of a-z 0-9 _ .');
    refused(CreateUserBody, { username: 'alice', password: pw, display_name: 'Al\u0000ice' }, 'display_name');
    refused(CreateUserBody, { username: 'alice', password: pw, display_name: `Alice ${HIGH}` }, 'display_name');
    refused(CreateSessionBody, { username: 'ali\u0000ce', password: pw }, 'username');
    refused(CreateSessionBody, { username: `alice${LOW}`, password: pw }, 'username');
    refused(CreateSessionBody, { username: 'alice', password: pw, device_name: 'phone\u0000' }, 'device_name');
    refused(CreateGroupBody, { name: 'team\u0000', member_ids: [] }, 'name');
    refused(CreateGroupBody, { name: `team ${LOW}`, member_ids: [] }, 'name');
    refused(CreateGroupBody, { name: 'team', member_ids: ['u\u0000'] }, 'member_ids');
    refused(AddMembersBody, { user_ids: [HIGH] }, 'user_ids');
    refused(RenameGroupBody, { name: '\u0000' }, 'name');
  });

  it('accepts emoji and control characters in names, unchanged', () => {
    const name = `team ${EMOJI}\ttab`;
    assert.deepEqual(CreateGroupBody.parse({ name, member_ids: ['u1'] }), { name, member_ids: ['u1'] });
    assert.equal(
      CreateUserBody.parse({ username: 'alice', password: 'long enough', display_name: `Al ${EMOJI}` }).display_name,
      `Al ${EMOJI}`,
    );
    assert.equal(
      CreateSessionBody.parse({ username: 'alice', password: 'x', device_name: `phone ${EMOJI}` }).device_name,
      `phone ${EMOJI}`,
    );
  });
});

describe('bidirectional controls in names', () => {
  const controls = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];

  it('hasBidiControl finds each Bidi_Control character and nothing else', () => {
    for (const c of controls) assert.equal(hasBidiControl(`a${c}b`), true, c.charCodeAt(0).toString(16));
    for (const s of ['plain', 'שלום', 'مرحبا', EMOJI, '\u200b zero width space', '\u2060 word joiner', 'tab\t'])
      assert.equal(hasBidiControl(s), false, s);
  });

  it('withoutBidiControls strips them all, leaving the rest', () => {
    assert.equal(withoutBidiControls(`invoice\u202Efdp.exe`), 'invoicefdp.exe');
    assert.equal(withoutBidiControls(controls.join('x')), 'x'.repeat(controls.length - 1));
  });

  it('name fields refuse them; message content keeps them', () => {
    assert.equal(CreateUserBody.safeParse({ username: 'abc', password: 'password1', display_name: 'a\u202eb' }).success, false);
    assert.equal(CreateSessionBody.safeParse({ username: 'abc', password: 'x', device_name: 'a\u2066b' }).success, false);
    assert.equal(CreateGroupBody.safeParse({ name: 'a\u200fb', member_ids: [] }).success, false);
    assert.equal(RenameGroupBody.safeParse({ name: 'a\u061cb' }).success, false);
    assert.equal(CreateMediaBody.safeParse({ content_type: 'text/plain', size: 1, filename: 'a\u202eb' }).success, false);
    const f = parseClientFrame(JSON.stringify({ type: 'send_message', chat_id: 'dm:a:b', client_msg_id: 'c', content: 'a\u202eb' }));
    assert.equal(f.ok, true);
  });
});
