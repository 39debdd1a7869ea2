import { InMemoryWsTicketStore } from './in-memory-ws-ticket-store.js';
import { runWsTicketStoreContract } from './ws-ticket-store.contract.js';

runWsTicketStoreContract('in-memory', async () => {
  const store = new InMemoryWsTicketStore();
  return { store, other: store, cleanup: () => store.close() };
});
