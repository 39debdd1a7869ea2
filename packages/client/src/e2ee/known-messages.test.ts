import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KnownMessages, MAX_KNOWN_PER_CHAT } from './known-messages.js';
import { MemoryStorage } from './storage.js';

/*
 * docs/e2ee.md "Replies, mentions, edits and reactions": what the receiving SDK remembers to
 * check edits, and its bounds (the checks through real servers are in packages/e2e/src/e2ee-support.ts).
 */

const WINDOW_MS = 60_000;

test('an edit counts from the sender, within the window, of a message not deleted', async () => {
  const known = new KnownMessages(new MemoryStorage(), WINDOW_MS);
  await known.remember('c', 'm1', 'alice', 1_000);
  assert.equal(await known.refuseEdit('c', 'm1', 'alice', 1_000 + WINDOW_MS), null);
  assert.equal(await known.refuseEdit('c', 'm1', 'bob', 2_000), 'not_the_sender');
  assert.equal(await known.refuseEdit('c', 'm1', 'alice', 1_001 + WINDOW_MS), 'edit_window_passed');
  assert.equal(await known.refuseEdit('other-chat', 'm1', 'alice', 2_000), 'unknown_target');
  await known.forget('c', 'm1');
  assert.equal(await known.refuseEdit('c', 'm1', 'alice', 2_000), 'unknown_target');
});

test('bounded: what left the window is forgotten, and at most MAX_KNOWN_PER_CHAT per chat, oldest first; kept across a restart', async () => {
  const storage = new MemoryStorage();
  const known = new KnownMessages(storage, WINDOW_MS);
  await known.remember('c', 'old', 'alice', 0);
  await known.remember('c', 'new', 'alice', WINDOW_MS + 1);
  assert.equal(await known.refuseEdit('c', 'old', 'alice', WINDOW_MS), 'unknown_target', 'older than the window before the newest');
  for (let i = 0; i < MAX_KNOWN_PER_CHAT; i++) await known.remember('c', `m${i}`, 'bob', WINDOW_MS + 2 + i);
  assert.equal(await known.refuseEdit('c', 'new', 'alice', WINDOW_MS + 2), 'unknown_target', 'the oldest made room');
  assert.equal(await known.refuseEdit('c', 'm0', 'bob', WINDOW_MS + 2), null);
  const stored = JSON.parse(new TextDecoder().decode(await storage.get('known/c'))) as unknown[];
  assert.equal(stored.length, MAX_KNOWN_PER_CHAT);
  // A new process reads what the last one remembered.
  const again = new KnownMessages(storage, WINDOW_MS);
  assert.equal(await again.refuseEdit('c', `m${MAX_KNOWN_PER_CHAT - 1}`, 'bob', WINDOW_MS + 10), null);
  assert.equal(await again.refuseEdit('c', `m${MAX_KNOWN_PER_CHAT - 1}`, 'alice', WINDOW_MS + 10), 'not_the_sender');
});
