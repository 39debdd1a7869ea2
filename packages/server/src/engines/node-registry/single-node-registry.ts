import type { NodeInfo, NodeRegistry } from './node-registry.js';

/** Embedded mode: no registry, the session's ws_url is this server's own. */
export class SingleNodeRegistry implements NodeRegistry {
  async heartbeat(): Promise<void> {}
  async deregister(): Promise<void> {}
  async liveNodes(): Promise<NodeInfo[]> {
    return [];
  }
  async close(): Promise<void> {}
}
