import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { findMediaTools, runBounded, ToolFailed } from './media-tools.js';

/*
 * The bounds every ffprobe, ffmpeg and pdftoppm run gets, shown on ordinary programs: a run
 * that hangs is killed at its time limit, one that writes too much at its output limit, one
 * that allocates past its address space fails; and a folder without the tools finds none.
 */

const roomy = { timeoutMs: 5000, memoryBytes: 1024 * 1024 * 1024, maxOutputBytes: 1024 * 1024 };

describe('media tools: bounded runs', () => {
  test('a run that does not end is killed at its time limit', async () => {
    const started = Date.now();
    await assert.rejects(runBounded('/bin/sleep', ['30'], { ...roomy, timeoutMs: 300 }), (err) => {
      assert.ok(err instanceof ToolFailed);
      assert.match(err.message, /took more than 300 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 3000, `killed after ${Date.now() - started} ms`);
  });

  test('a run that writes past its output limit is killed; one within it answers its output', async () => {
    await assert.rejects(runBounded('/bin/cat', ['/dev/zero'], { ...roomy, maxOutputBytes: 64 * 1024 }), /wrote more than 65536 bytes/);
    assert.equal((await runBounded('/bin/echo', ['-n', 'hello'], roomy)).toString(), 'hello');
  });

  test('a run past its address space fails instead of taking the memory', async () => {
    // Node itself needs far more than 64 MiB of address space: it cannot even start.
    await assert.rejects(runBounded(process.execPath, ['-e', 'console.log(1)'], { ...roomy, memoryBytes: 64 * 1024 * 1024 }), ToolFailed);
    assert.equal((await runBounded(process.execPath, ['-e', 'process.stdout.write("1")'], roomy)).toString(), '1');
  });

  test('an argument is never read by a shell', async () => {
    assert.equal((await runBounded('/bin/echo', ['-n', '$(id) `id` ; id'], roomy)).toString(), '$(id) `id` ; id');
  });

  test('tools are found on the search path given, and not elsewhere', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'sb-no-tools-'));
    try {
      assert.deepEqual(findMediaTools(empty), { ffprobe: null, ffmpeg: null, pdftoppm: null });
      const found = findMediaTools(`${empty}${path.delimiter}/bin${path.delimiter}/usr/bin`);
      for (const [name, where] of Object.entries(found)) if (where) assert.equal(path.basename(where), name);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
