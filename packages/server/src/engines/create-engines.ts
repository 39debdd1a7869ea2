import type { ServerConfig } from '../config.js';
import type { Bus } from './bus/bus.js';
import type { FanoutQueue } from './fanout-queue/fanout-queue.js';
import type { NodeRegistry } from './node-registry/node-registry.js';
import type { PresenceStore } from './presence-store/presence-store.js';
import type { Store } from './store/store.js';

export interface Engines {
  store: Store;
  bus: Bus;
  fanout: FanoutQueue;
  presenceStore: PresenceStore;
  registry: NodeRegistry;
  /** Snowflake node id (0..1023), unique among live nodes. */
  snowflakeNodeId: number;
  /** Called when the shared bus lost and regained its connection (events in between are lost). */
  onBusReconnect(cb: () => void): void;
  /** Closes whatever connections the engines share (after each engine's own close). */
  closeShared(): Promise<void>;
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
  const { SingleNodeRegistry } = await import('./node-registry/single-node-registry.js');
  return {
    mode: 'embedded',
    store: new SqliteStore(config.dataDir),
    bus: new InProcessBus(),
    fanout: new InProcessFanoutQueue(config.fanoutQueueCapacity),
    presenceStore: new InMemoryPresenceStore(config.presenceTimeoutMs),
    nodeName: 'embedded',
    registry: new SingleNodeRegistry(),
    snowflakeNodeId: config.nodeId,
    onBusReconnect: () => {},
    closeShared: async () => {},
  };
}
