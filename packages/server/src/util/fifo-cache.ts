/**
 * A bounded map that forgets its oldest entries first, each operation O(1). Evicting with
 * `map.delete(map.keys().next().value)` is not: V8 leaves a deleted entry as a hole at the
 * front of the map's table until it rehashes, and every new iterator walks over all of
 * them, so once the map is full each insert scans tens of thousands of holes (about 20 µs
 * at 50,000 entries: more than the rest of a message's acknowledgement bookkeeping). Here
 * the keys' insertion order is kept in a ring instead.
 */
export class FifoCache<K, V> {
  private readonly map = new Map<K, V>();
  private readonly ring: (K | undefined)[];
  private next = 0;

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1');
    this.ring = new Array<K | undefined>(capacity);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Adds an entry unless the key is there already (it then keeps its value and its place); false when it was. */
  add(key: K, value: V): boolean {
    if (this.map.has(key)) return false;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.map.delete(oldest);
    this.ring[this.next] = key;
    this.next = (this.next + 1) % this.capacity;
    this.map.set(key, value);
    return true;
  }
}
