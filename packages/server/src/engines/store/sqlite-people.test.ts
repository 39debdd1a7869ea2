import { rmSync } from 'node:fs';
import { tempDir } from '../../testing/harness.js';
import { runPeopleContract } from './people.contract.js';
import { SqliteStore } from './sqlite-store.js';

runPeopleContract('sqlite', async () => {
  const dir = tempDir('sb-sqlite-people-');
  const store = new SqliteStore(dir);
  return { store, cleanup: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
});
