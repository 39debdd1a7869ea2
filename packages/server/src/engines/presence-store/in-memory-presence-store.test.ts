import { InMemoryPresenceStore } from './in-memory-presence-store.js';
import { runPresenceStoreContract } from './presence-store.contract.js';

runPresenceStoreContract('in-memory', async ({ ttlMs }) => {
  const store = new InMemoryPresenceStore(ttlMs);
  return { store, cleanup: () => store.close() };
});
