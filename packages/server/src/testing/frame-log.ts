/*
 * What TestSocket (the WebSocket) and TestStream (GET /v1/events) share: every frame
 * received, in order, and waiting for one by predicate.
 */

export type LoggedFrame = Record<string, any> & { type: string };

export class FrameLog<F extends LoggedFrame = LoggedFrame> {
  readonly frames: F[] = [];
  private waiters: { pred: (f: F) => boolean; from: number; resolve: (f: F) => void }[] = [];

  /** Keeps a received frame and wakes whoever waits for one like it. */
  protected record(frame: F): void {
    this.frames.push(frame);
    const idx = this.frames.length - 1;
    this.waiters = this.waiters.filter((w) => {
      if (idx >= w.from && w.pred(frame)) {
        w.resolve(frame);
        return false;
      }
      return true;
    });
  }

  /** Index of the first recorded frame at `from` or later matching pred, or -1. */
  indexOf(pred: (f: F) => boolean, from = 0): number {
    for (let i = from; i < this.frames.length; i++) if (pred(this.frames[i]!)) return i;
    return -1;
  }

  /**
   * Resolves with the first frame recorded at index `from` or later (default: any frame so
   * far) that matches pred, as soon as it arrives.
   */
  waitFor(pred: (f: F) => boolean, timeoutMs = 5000, label = 'frame', from = 0): Promise<F> {
    const i = this.indexOf(pred, from);
    if (i >= 0) return Promise.resolve(this.frames[i]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}; last frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const waiter = {
        pred,
        from: Math.max(from, this.frames.length),
        resolve: (f: F) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      this.waiters.push(waiter);
    });
  }
}
