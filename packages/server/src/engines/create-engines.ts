import type { ServerConfig } from '../config.js';
import type { Bus } from './bus/bus.js';
import type { FanoutQueue } from './fanout-queue/fanout-queue.js';
import type { PresenceStore } from './presence-store/presence-store.js';
import type { Store } from './store/store.js';

export interface Engines {
  store: Store;
  bus: Bus;
  fanout: FanoutQueue;
  presenceStore: PresenceStore;
  /** This node's name in shared state (presence entries, node registry). */
  nodeName: string;
  mode: 'embedded' | 'cluster';
}

/** Configuration → engine implementations. Drivers are imported lazily so embedded mode never loads pg or ioredis. */
export async function createEngines(config: ServerConfig): Promise<Engines> {
  if (config.redisUrl && config.databaseUrl) {
    throw new Error('cluster mode (REDIS_URL + DATABASE_URL) is not available in this version; unset them to run embedded');
  }
  const { SqliteStore } = await import('./store/sqlite-store.js');
  const { InProcessBus } = await import('./bus/in-process-bus.js');
  const { InProcessFanoutQueue } = await import('./fanout-queue/in-process-fanout-queue.js');
  const { InMemoryPresenceStore } = await import('./presence-store/in-memory-presence-store.js');
  return {
    mode: 'embedded',
    store: new SqliteStore(config.dataDir),
    bus: new InProcessBus(),
    fanout: new InProcessFanoutQueue(config.fanoutQueueCapacity),
    presenceStore: new InMemoryPresenceStore(config.presenceTimeoutMs),
    nodeName: 'embedded',
  };
}
