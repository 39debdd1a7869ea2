import { InMemoryRateLimitStore } from './in-memory-rate-limit-store.js';
import { runRateLimitStoreContract } from './rate-limit-store.contract.js';

runRateLimitStoreContract('in-memory', async () => {
  const store = new InMemoryRateLimitStore();
  return { store, other: store, cleanup: () => store.close() };
});
