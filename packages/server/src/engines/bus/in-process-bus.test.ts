import { runBusContract } from './bus.contract.js';
import { InProcessBus } from './in-process-bus.js';

// One process, one bus: both "nodes" are the same instance.
runBusContract('in-process', async () => {
  const bus = new InProcessBus();
  return { a: bus, b: bus, cleanup: () => bus.close() };
});
