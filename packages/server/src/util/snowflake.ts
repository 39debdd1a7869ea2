/**
 * 64-bit Snowflake-style ids as decimal strings: 41 bits of milliseconds since
 * 2024-01-01, 10 bits of node id, 12 bits of sequence. Time-ordered within a node and
 * unique across up to 1,024 nodes.
 */
const EPOCH = 1_704_067_200_000n;

export class Snowflake {
  private lastMs = -1n;
  private seq = 0n;
  private nodeId = 0;
  constructor(
    nodeId: number,
    private readonly now: () => number = Date.now,
  ) {
    this.setNodeId(nodeId);
  }

  /** Mints with another node id from now on (a cluster node whose leased id was taken over: engines/node-id-lease.ts). */
  setNodeId(nodeId: number): void {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 1023) throw new Error('node id must be 0..1023');
    this.nodeId = nodeId;
  }

  get currentNodeId(): number {
    return this.nodeId;
  }

  next(): string {
    let ms = BigInt(this.now());
    if (ms < this.lastMs) ms = this.lastMs; // clock stepped back: keep ids increasing
    if (ms === this.lastMs) {
      this.seq = (this.seq + 1n) & 0xfffn;
      if (this.seq === 0n) ms = this.lastMs + 1n; // 4,096 ids in one ms: borrow the next ms
    } else {
      this.seq = 0n;
    }
    this.lastMs = ms;
    return (((ms - EPOCH) << 22n) | (BigInt(this.nodeId) << 12n) | this.seq).toString();
  }
}
