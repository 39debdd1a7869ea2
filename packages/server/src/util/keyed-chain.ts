/**
 * Runs tasks one after another per key: each starts once the previous task of its key
 * has settled, failed or not (its own result still reaches its caller). The first task of
 * an idle key starts at once, in the caller's turn. A key with nothing running holds no memory.
 */
export class KeyedChain {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const result = previous ? previous.then(task) : task();
    const tail = result.then(noop, noop);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

function noop(): void {}
