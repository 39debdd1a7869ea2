import { rmSync } from 'node:fs';
import { tempDir } from '../../testing/harness.js';
import { runMediaIndexContract } from './media-index.contract.js';
import { SqliteStore } from './sqlite-store.js';

runMediaIndexContract('sqlite', async () => {
  const dir = tempDir('sb-sqlite-media-');
  const store = new SqliteStore(dir);
  return { store, cleanup: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
});
