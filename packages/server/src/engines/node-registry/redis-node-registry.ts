import type { RedisClient } from '../redis-connection.js';
import type { NodeInfo, NodeRegistry } from './node-registry.js';

/**
 * Nodes in one Redis hash, `{prefix}nodes`: field = node id, value = JSON NodeInfo.
 * Liveness is the heartbeatAt inside the value (entries older than the TTL are
 * ignored and pruned by readers), so a node killed without a word drops out within
 * the TTL with no expiry machinery per field. One key, so on a Redis Cluster it lives on
 * one slot (a few hundred small fields at most; read every few seconds per node).
 */
export class RedisNodeRegistry implements NodeRegistry {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { prefix: string; ttlMs: number; now?: () => number },
  ) {
    this.key = `${opts.prefix}nodes`;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async heartbeat(info: Omit<NodeInfo, 'heartbeatAt'>): Promise<void> {
    await this.redis.hset(this.key, info.nodeName, JSON.stringify({ ...info, heartbeatAt: this.now() }));
  }

  async deregister(nodeName: string): Promise<void> {
    await this.redis.hdel(this.key, nodeName);
  }

  async liveNodes(): Promise<NodeInfo[]> {
    const all = await this.redis.hgetall(this.key);
    const cutoff = this.now() - this.opts.ttlMs;
    const live: NodeInfo[] = [];
    const dead: string[] = [];
    for (const [id, json] of Object.entries(all)) {
      const info = JSON.parse(json) as NodeInfo;
      if (info.heartbeatAt >= cutoff) live.push(info);
      else dead.push(id);
    }
    if (dead.length > 0) await this.redis.hdel(this.key, ...dead);
    return live.sort((a, b) => a.connections - b.connections || a.nodeName.localeCompare(b.nodeName));
  }

  async close(): Promise<void> {}
}
