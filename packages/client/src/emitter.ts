/**
 * A small typed event emitter. Written by hand so the SDK does not depend on Node's
 * EventEmitter (it runs in browsers too). A listener that throws does not stop the
 * others; the exception is reported asynchronously so it still surfaces.
 */
/** In callListeners' answers: that listener threw. */
const THREW = Symbol('threw');

// unknown, not void: a listener may return a promise that emitSettled waits for.
export type Listener<T> = (payload: T) => unknown;

export class TypedEmitter<Events extends object> {
  private listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Resolves with the next payload of `event` (optionally one matching `pred`); rejects after timeoutMs. */
  waitFor<K extends keyof Events>(
    event: K,
    opts: { timeoutMs?: number; filter?: (payload: Events[K]) => boolean } = {},
  ): Promise<Events[K]> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const off = this.on(event, (payload) => {
        if (opts.filter && !opts.filter(payload)) return;
        off();
        if (timer !== undefined) clearTimeout(timer);
        resolve(payload);
      });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          off();
          reject(new Error(`timed out after ${opts.timeoutMs} ms waiting for ${String(event)}`));
        }, opts.timeoutMs);
      }
    });
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /**
   * Emits, then waits for what the listeners returned: resolves true once every promise a
   * listener returned has settled fulfilled, false if one threw or rejected. For events an
   * app must have kept before the SDK lets go of their source (E2ee's decrypted messages).
   */
  protected async emitSettled<K extends keyof Events>(event: K, payload: Events[K]): Promise<boolean> {
    const answers = this.callListeners(event, payload);
    const settled = await Promise.allSettled(answers);
    return !answers.includes(THREW) && settled.every((r) => r.status === 'fulfilled');
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    this.callListeners(event, payload);
  }

  /** Calls every listener, answering what each returned; one that throws does not stop the others (reported asynchronously; THREW in the answers). */
  private callListeners<K extends keyof Events>(event: K, payload: Events[K]): unknown[] {
    const answers: unknown[] = [];
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        answers.push((listener as Listener<Events[K]>)(payload));
      } catch (err) {
        answers.push(THREW);
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
    return answers;
  }
}
