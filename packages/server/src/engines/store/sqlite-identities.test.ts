import { rmSync } from 'node:fs';
import { tempDir } from '../../testing/harness.js';
import { runIdentitiesContract } from './identities.contract.js';
import { SqliteStore } from './sqlite-store.js';

runIdentitiesContract('sqlite', async () => {
  const dir = tempDir('sb-sqlite-identities-');
  const store = new SqliteStore(dir);
  return { store, cleanup: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
});
