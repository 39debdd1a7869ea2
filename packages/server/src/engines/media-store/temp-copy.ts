import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Runs `fn` with `bytes` copied to a temporary file, for tools that read files (sharp),
 * and removes it after. The copy is someone's upload: it lives in a fresh folder only this
 * user may enter (mkdtemp makes it 0700) and is itself 0600, whatever the umask and
 * whoever else shares the temp directory.
 */
export async function withTempCopy<T>(bytes: Readable, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sb-media-'));
  const file = path.join(dir, 'object');
  try {
    await pipeline(bytes, createWriteStream(file, { mode: 0o600, flags: 'wx' }));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
