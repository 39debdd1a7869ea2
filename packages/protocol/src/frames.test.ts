import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AckDeliveredFrame,
  AckReadFrame,
  directChatId,
  groupChatId,
  MAX_BATCH_FRAMES,
  parseChatId,
  parseClientFrame,
  parseClientFrames,
  SendMessageFrame,
} from './index.js';

describe('chat ids', () => {
  test('a direct chat id is the same whichever user names it, in plain string order', () => {
    assert.equal(directChatId('b', 'a'), 'dm:a:b');
    assert.equal(directChatId('a', 'b'), 'dm:a:b');
    // String order, not numeric: "10" sorts before "9".
    assert.equal(directChatId('9', '10'), 'dm:10:9');
    assert.equal(directChatId('x', 'x'), 'dm:x:x', 'notes to self');
  });

  test('parseChatId reads back what the builders make and refuses anything else', () => {
    assert.deepEqual(parseChatId(directChatId('u2', 'u1')), { kind: 'direct', userIds: ['u1', 'u2'] });
    assert.deepEqual(parseChatId(groupChatId('123')), { kind: 'group', groupId: '123' });
    for (const bad of ['', 'dm:', 'dm:a', 'dm:b:a', 'dm:a:b:c', 'dm::b', 'g:', `g:${'x'.repeat(65)}`, 'x:1', 'DM:a:b']) {
      assert.equal(parseChatId(bad), null, JSON.stringify(bad));
    }
  });
});

describe('parseClientFrame', () => {
  test('ack_delivered, checked by hand on its usual shape, is accepted and refused exactly as its schema decides', () => {
    const long = 'm'.repeat(128);
    const cases: unknown[] = [
      { type: 'ack_delivered', message_id: 'm1' },
      { type: 'ack_delivered', message_ids: ['m1', 'm2'] },
      { type: 'ack_delivered', message_id: 'm0', message_ids: ['m1'] },
      { type: 'ack_delivered', message_ids: [long] },
      { type: 'ack_delivered', message_ids: [`${long}m`] },
      { type: 'ack_delivered', message_ids: [] },
      { type: 'ack_delivered', message_ids: Array.from({ length: 10_000 }, (_, i) => `m${i}`) },
      { type: 'ack_delivered', message_ids: Array.from({ length: 10_001 }, (_, i) => `m${i}`) },
      { type: 'ack_delivered', message_ids: ['m1', ''] },
      { type: 'ack_delivered', message_ids: ['m1', 2] },
      { type: 'ack_delivered', message_ids: 'm1' },
      { type: 'ack_delivered', message_ids: null },
      { type: 'ack_delivered', message_id: null },
      { type: 'ack_delivered', message_id: 'm\u0000' },
      { type: 'ack_delivered', message_ids: ['m\ud800'] },
      { type: 'ack_delivered' },
      { type: 'ack_delivered', message_id: 'm1', extra: true },
    ];
    for (const raw of cases) {
      const got = parseClientFrame(JSON.stringify(raw));
      const want = AckDeliveredFrame.safeParse(raw);
      assert.equal(got.ok, want.success, JSON.stringify(raw).slice(0, 200));
      if (got.ok && want.success) assert.deepEqual(got.frame, want.data);
    }
  });

  test('send_message and ack_read, checked by hand on their usual shape, are accepted and refused exactly as their schemas decide', () => {
    const long = 'c'.repeat(128);
    const send = { type: 'send_message', chat_id: 'dm:a:b', client_msg_id: 'c1', content: 'hi' };
    const read = { type: 'ack_read', chat_id: 'dm:a:b', last_read_message_id: 'm1' };
    type Schema = { safeParse(x: unknown): { success: boolean; data?: unknown } };
    const cases: (readonly [unknown, Schema])[] = [
      ...[
        send,
        { ...send, content: '' },
        { ...send, content: 'line\nüñî 👋🏽 \u202e' },
        { ...send, content: 'x'.repeat(200_000) },
        { ...send, content: 'nul \u0000' },
        { ...send, content: 'half \ud800' },
        { ...send, content: 1 },
        { ...send, content: null },
        { ...send, chat_id: long },
        { ...send, chat_id: `${long}c` },
        { ...send, chat_id: '' },
        { ...send, client_msg_id: long },
        { ...send, client_msg_id: `${long}c` },
        { ...send, client_msg_id: 7 },
        { ...send, client_msg_id: 'c\udc00' },
        { type: 'send_message', chat_id: 'dm:a:b', client_msg_id: 'c1' },
        { ...send, reply_to: null },
        { ...send, forwarded: true },
        { ...send, extra: 1 },
      ].map((raw): readonly [unknown, Schema] => [raw, SendMessageFrame]),
      ...[
        read,
        { ...read, chat_id: long },
        { ...read, last_read_message_id: `${long}m` },
        { ...read, last_read_message_id: '' },
        { ...read, last_read_message_id: null },
        { ...read, chat_id: 'g:\u0000' },
        { type: 'ack_read', chat_id: 'g:1' },
        { ...read, extra: 1 },
      ].map((raw): readonly [unknown, Schema] => [raw, AckReadFrame]),
    ];
    for (const [raw, schema] of cases) {
      const got = parseClientFrame(JSON.stringify(raw));
      const want = schema.safeParse(raw);
      assert.equal(got.ok, want.success, JSON.stringify(raw).slice(0, 200));
      if (got.ok && want.success) assert.deepEqual(got.frame, want.data);
    }
  });

  test('accepts every client frame of the protocol', () => {
    const frames = [
      { type: 'send_message', chat_id: 'dm:a:b', client_msg_id: 'c1', content: 'hi' },
      { type: 'ack_delivered', message_id: 'm1' },
      { type: 'ack_delivered', message_ids: ['m1', 'm2'] },
      { type: 'ack_read', chat_id: 'dm:a:b', last_read_message_id: 'm1' },
      { type: 'typing', chat_id: 'g:1', state: 'composing' },
      { type: 'presence_subscribe', user_ids: ['a'] },
      { type: 'presence_unsubscribe', user_ids: ['a'] },
      { type: 'ping' },
      {
        type: 'send_message',
        chat_id: 'g:1',
        client_msg_id: 'c2',
        content: 'hi @b',
        reply_to: 'm1',
        mentions: ['b'],
        forwarded: true,
      },
      { type: 'edit_message', chat_id: 'g:1', client_msg_id: 'c3', message_id: 'm1', content: 'fixed' },
      { type: 'delete_message', chat_id: 'g:1', client_msg_id: 'c4', message_id: 'm1' },
      { type: 'react', chat_id: 'g:1', client_msg_id: 'c5', message_id: 'm1', emoji: '👍🏽' },
      { type: 'react', chat_id: 'g:1', client_msg_id: 'c6', message_id: 'm1', emoji: '' },
    ];
    for (const f of frames) {
      const r = parseClientFrame(JSON.stringify(f));
      assert.ok(r.ok, `${f.type}: ${r.ok ? '' : r.message}`);
      assert.equal(r.frame.type, f.type);
    }
  });

  test('ignores unknown fields', () => {
    const r = parseClientFrame(JSON.stringify({ type: 'ping', extra: { deep: [1, 2] } }));
    assert.ok(r.ok);
  });

  test('refuses bad frames with a message, and names the send that failed', () => {
    const cases: [string, RegExp][] = [
      ['not json', /not valid JSON/],
      ['[1,2]', /batch=1/],
      ['null', /JSON object/],
      ['{"type":"nope"}', /unknown frame type: nope/],
      ['{"type":"__proto__"}', /unknown frame type/],
      ['{"type":"typing","chat_id":"g:1","state":"shouting"}', /typing: state/],
      ['{"type":"send_message","chat_id":"dm:a:b","client_msg_id":"c9"}', /send_message: content/],
      ['{"type":"ack_delivered","message_ids":[]}', /ack_delivered/],
    ];
    for (const [text, message] of cases) {
      const r = parseClientFrame(text);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.message, message, text);
    }
    const send = parseClientFrame('{"type":"send_message","chat_id":"dm:a:b","client_msg_id":"c9"}');
    assert.ok(!send.ok && send.client_msg_id === 'c9', 'the error can name the send');
  });

  test('a presence watch list is bounded', () => {
    const many = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    assert.equal(parseClientFrame(JSON.stringify({ type: 'presence_subscribe', user_ids: many })).ok, false);
    assert.equal(parseClientFrame(JSON.stringify({ type: 'presence_subscribe', user_ids: many.slice(0, 1000) })).ok, true);
  });

  test('lifecycle frames are bounded: 50 mentions, a 32-byte emoji, a target message', () => {
    const many = Array.from({ length: 51 }, (_, i) => `u${i}`);
    const send = { type: 'send_message', chat_id: 'g:1', client_msg_id: 'c', content: 'x' };
    assert.equal(parseClientFrame(JSON.stringify({ ...send, mentions: many })).ok, false);
    assert.equal(parseClientFrame(JSON.stringify({ ...send, mentions: many.slice(0, 50) })).ok, true);
    const react = { type: 'react', chat_id: 'g:1', client_msg_id: 'c', message_id: 'm1' };
    assert.equal(parseClientFrame(JSON.stringify({ ...react, emoji: '😀'.repeat(8) })).ok, true, '32 bytes');
    const long = parseClientFrame(JSON.stringify({ ...react, emoji: '😀'.repeat(8) + 'a' }));
    assert.ok(!long.ok && long.client_msg_id === 'c', '33 bytes is refused and names the change');
    assert.equal(parseClientFrame(JSON.stringify({ type: 'delete_message', chat_id: 'g:1', client_msg_id: 'c' })).ok, false);
  });
});

describe('parseClientFrames (batching)', () => {
  test('a batch socket takes an array of frames, one result each, in order', () => {
    const r = parseClientFrames(JSON.stringify([{ type: 'ping' }, { type: 'nope' }, { type: 'ping' }]), true);
    assert.deepEqual(
      r.map((x) => x.ok),
      [true, false, true],
    );
  });
  test('an array without ?batch=1, an empty one or one over the maximum is refused whole', () => {
    assert.equal(parseClientFrames('[{"type":"ping"}]', false).length, 1);
    assert.equal(parseClientFrames('[{"type":"ping"}]', false)[0]!.ok, false);
    assert.equal(parseClientFrames('[]', true)[0]!.ok, false);
    const long = JSON.stringify(Array.from({ length: MAX_BATCH_FRAMES + 1 }, () => ({ type: 'ping' })));
    const refused = parseClientFrames(long, true);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.ok, false);
    assert.equal(
      parseClientFrames(JSON.stringify(Array.from({ length: MAX_BATCH_FRAMES }, () => ({ type: 'ping' }))), true).length,
      MAX_BATCH_FRAMES,
    );
  });
  test('a single object is parsed as one frame either way', () => {
    assert.equal(parseClientFrames('{"type":"ping"}', true)[0]!.ok, true);
    assert.equal(parseClientFrames('{"type":"ping"}', false)[0]!.ok, true);
  });
});
