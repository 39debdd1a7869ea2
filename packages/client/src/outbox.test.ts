import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AckBatcher } from './ack-batcher.js';
import { Outbox } from './outbox.js';

const send = (id: string, content = 'x') => ({ type: 'send_message' as const, chat_id: 'dm:a:b', client_msg_id: id, content });
const ack = (id: string, seq: number) => ({
  type: 'ack_sent' as const,
  client_msg_id: id,
  message_id: `m${seq}`,
  chat_id: 'dm:a:b',
  seq,
  created_at: 1,
});

describe('Outbox', () => {
  test('keeps pending sends in the order they were made until each is settled', async () => {
    const box = new Outbox();
    const one = box.add(send('c1'));
    const two = box.add(send('c2'));
    box.add(send('c3')).catch(() => {});
    assert.deepEqual(
      box.frames().map((f) => f.client_msg_id),
      ['c1', 'c2', 'c3'],
    );
    box.acked(ack('c2', 8));
    assert.equal((await two).seq, 8);
    assert.deepEqual(
      box.frames().map((f) => f.client_msg_id),
      ['c1', 'c3'],
    );
    assert.equal(box.refused('c3', new Error('no')), true);
    assert.equal(box.refused('c3', new Error('again')), false);
    box.acked(ack('c1', 7));
    assert.equal((await one).seq, 7);
    assert.deepEqual(box.frames(), []);
  });

  test('the same client_msg_id again joins the pending send; closing rejects everything', async () => {
    const box = new Outbox();
    const first = box.add(send('c1', 'hello'));
    const again = box.add(send('c1', 'ignored'));
    assert.equal(box.frames().length, 1);
    assert.deepEqual(box.frame('c1'), send('c1', 'hello'));
    box.acked(ack('c1', 3));
    assert.deepEqual([(await first).seq, (await again).seq], [3, 3]);
    const lost = box.add(send('c2'));
    box.rejectAll(new Error('closed'));
    await assert.rejects(lost, /closed/);
  });
});

describe('AckBatcher', () => {
  test('ids added in one turn leave in one frame; large bursts in frames of 1,000', async () => {
    const frames: string[][] = [];
    const acks = new AckBatcher((f) => frames.push(f.message_ids));
    for (let i = 0; i < 2500; i++) acks.add(`m${i}`);
    assert.equal(frames.length, 0, 'nothing before the timer turn');
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(
      frames.map((f) => f.length),
      [1000, 1000, 500],
    );
    acks.add('late');
    acks.clear();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(frames.length, 3, 'cleared ids are not sent');
  });

  test('a read drops the ids of its chat at or below its seq, and only those', async () => {
    const frames: string[][] = [];
    const acks = new AckBatcher((f) => frames.push(f.message_ids));
    acks.add('a1', 'A', 1);
    acks.add('b5', 'B', 5);
    acks.add('a2', 'A', 2);
    acks.add('a1-again', 'A', 1); // a replayed duplicate
    acks.add('a3', 'A', 3);
    acks.add('plain'); // no chat and seq: never covered
    assert.equal(acks.seqOf('A', 'a2'), 2);
    assert.equal(acks.seqOf('A', 'b5'), undefined, 'looked up in its own chat only');
    acks.coveredByRead('A', 2);
    acks.coveredByRead('C', 99); // a chat with nothing queued
    assert.equal(acks.size, 3);
    assert.equal(acks.seqOf('A', 'a2'), undefined, 'dropped');
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(frames, [['b5', 'a3', 'plain']], 'other chats, later seqs and unknown ones stay, in arrival order');
    // A read that covers everything queued leaves nothing to flush, and no window used up.
    acks.add('a4', 'A', 4);
    acks.coveredByRead('A', 4);
    assert.equal(acks.size, 0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(frames.length, 1, 'no empty frame');
  });

  test('under a stream, at most one flush per window; after a quiet spell, at once', async () => {
    // A wide window, so that only a stall of the whole process for most of it could mislead the checks.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const frames: string[][] = [];
    const acks = new AckBatcher((f) => frames.push(f.message_ids), 400);
    acks.add('a');
    await sleep(20);
    assert.deepEqual(frames, [['a']], 'the first goes at the next turn');
    acks.add('b');
    acks.add('c');
    await sleep(20);
    assert.equal(frames.length, 1, 'held within the window');
    await sleep(430);
    assert.deepEqual(frames, [['a'], ['b', 'c']], 'one frame for the window');
    await sleep(430);
    acks.add('d');
    await sleep(20);
    assert.deepEqual(frames.at(-1), ['d'], 'after a quiet spell, at once');
  });
});
