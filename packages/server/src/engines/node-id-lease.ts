import { randomInt } from 'node:crypto';
import type { RedisClient } from './redis-connection.js';

/*
 * Snowflake node ids for cluster nodes, leased in Redis. Message ids are snowflakes
 * (util/snowflake.ts) whose 10 node bits keep two live nodes from minting the same id, and
 * the cluster store no longer checks ids for uniqueness (migration 15), so two live nodes
 * must never hold the same node id. A counter (`INCR % 1024`) did not ensure that: after
 * 1,024 node starts, or after Redis lost the counter, a new node took the id of a node
 * still running. Now each id is a key `{prefix}snowflake-node:{id}` set NX with a lease
 * that its node renews; a node starts its search at a random id and takes the first free
 * one. Random, not a counter: after Redis lost its keys, a counter would send the next
 * nodes to the ids the oldest live nodes hold, whose leases were lost with it until their
 * next renewal (every 2 s) takes them back.
 *
 * What is left: a node that cannot reach Redis for longer than its lease keeps minting with
 * its id, and another node that can reach Redis may take that id meanwhile; they collide
 * only on the same millisecond and sequence number. Failing sends instead would stop a
 * cluster whose Redis is down, which otherwise keeps storing messages.
 */

/** Node ids a snowflake has room for (10 bits). */
export const NODE_IDS = 1024;
const LEASE_MS = 30_000;
const RENEW_MS = 2_000;

/**
 * Keeps the lease if this node holds it (1), takes it back if the key is gone (Redis lost
 * it, or it ran out while Redis was unreachable) and nobody took it meanwhile (1), or
 * answers 0: another node holds the id now.
 */
const RENEW_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if v == false then
  if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
end
return 0`;

export interface NodeIdLeaseOptions {
  prefix: string;
  /** Who holds the lease (the node's name): what the key holds. */
  owner: string;
  leaseMs?: number;
  /** How often the lease is renewed; 0: never by itself (tests call renew()). */
  renewMs?: number;
  /** Told when a renewal found the id taken by another node and moved to a free one. */
  onMoved?: (id: number) => void;
  /** Told when renewals start failing (Redis unreachable), once until one succeeds again; the id is kept and tried again. */
  onRenewFailed?: (err: unknown) => void;
}

export class NodeIdLease {
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The renewal under way: one at a time, so two cannot each lease an id. */
  private renewing: Promise<number> | null = null;

  private constructor(
    private readonly redis: RedisClient,
    private readonly opts: NodeIdLeaseOptions,
    /** The node id this node holds now. */
    public id: number,
  ) {
    const every = opts.renewMs ?? RENEW_MS;
    if (every > 0) {
      let failing = false;
      this.timer = setInterval(() => {
        this.renew().then(
          () => (failing = false),
          (err: unknown) => {
            if (!failing) opts.onRenewFailed?.(err);
            failing = true;
          },
        );
      }, every);
      this.timer.unref();
    }
  }

  /** Takes a free node id; fails when all 1,024 are held. */
  static async acquire(redis: RedisClient, opts: NodeIdLeaseOptions): Promise<NodeIdLease> {
    return new NodeIdLease(redis, opts, await takeFree(redis, opts));
  }

  private get leaseMs(): number {
    return this.opts.leaseMs ?? LEASE_MS;
  }

  /**
   * Renews the lease; when another node holds the id now, takes a free one instead and
   * tells onMoved. Answers the id held after.
   */
  renew(): Promise<number> {
    if (this.closed) return Promise.resolve(this.id);
    return (this.renewing ??= this.renewOnce().finally(() => (this.renewing = null)));
  }

  private async renewOnce(): Promise<number> {
    const kept = Number(await this.redis.eval(RENEW_SCRIPT, 1, keyOf(this.opts.prefix, this.id), this.opts.owner, String(this.leaseMs)));
    if (kept === 1 || this.closed) return this.id;
    this.id = await takeFree(this.redis, this.opts);
    this.opts.onMoved?.(this.id);
    return this.id;
  }

  /**
   * Stops renewing. The lease runs out by itself rather than being deleted: a node on a
   * host whose clock is behind this one's must not mint, right away, the ids this node
   * minted in its last milliseconds.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.renewing?.catch(() => undefined);
  }
}

function keyOf(prefix: string, id: number): string {
  return `${prefix}snowflake-node:${id}`;
}

async function takeFree(redis: RedisClient, opts: NodeIdLeaseOptions): Promise<number> {
  const start = randomInt(NODE_IDS);
  for (let k = 0; k < NODE_IDS; k++) {
    const id = (start + k) % NODE_IDS;
    const taken = await redis.set(keyOf(opts.prefix, id), opts.owner, 'PX', opts.leaseMs ?? LEASE_MS, 'NX');
    if (taken === 'OK') return id;
  }
  throw new Error(`all ${NODE_IDS} snowflake node ids are leased by live nodes (keys ${opts.prefix}snowflake-node:*)`);
}
