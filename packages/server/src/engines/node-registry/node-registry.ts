/*
 * The node-registry seam (service discovery): each node announces itself with its
 * public ws URL and connection count on a heartbeat; POST /v1/sessions hands out the
 * least-loaded live node. A node that stops heartbeating drops out after the TTL.
 * Implementations: SingleNodeRegistry (embedded: there is only this node);
 * RedisNodeRegistry for clusters.
 */
export interface NodeInfo {
  nodeName: string;
  wsUrl: string;
  connections: number;
  /** When the node last said it was alive (ms since epoch). */
  heartbeatAt: number;
}

export interface NodeRegistry {
  /** Announces or refreshes this node. */
  heartbeat(info: Omit<NodeInfo, 'heartbeatAt'>): Promise<void>;
  /** Removes this node at once (graceful drain). */
  deregister(nodeName: string): Promise<void>;
  /** Live nodes, least loaded first. */
  liveNodes(): Promise<NodeInfo[]>;
  close(): Promise<void>;
}
