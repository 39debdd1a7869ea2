import { randomUUID } from 'node:crypto';

/*
 * Which subscribed channels this node is the only subscriber of, so that a publish to
 * them can be handed to the local handlers instead of going to Redis and straight back
 * (a sender's own user topic, a reader's read_sync: usually nobody else holds that user).
 *
 * The rule that makes skipping Redis safe: a node that subscribes a channel announces
 * itself on it (a `hello`) and its subscribe resolves only after Redis took the hello,
 * that is, after Redis wrote it to every other subscriber's connection. The gateway
 * subscribes before it replays from the store. A node that wants to deliver locally
 * first sends a PING on its subscriber connection (a barrier) and decides when the PONG
 * is back: every hello Redis wrote to that connection before the PING has been handled
 * by then. So a message committed after a new device's replay read (the only ones the
 * replay cannot cover) is decided after that device's node announced itself, and goes
 * through Redis.
 *
 * A node learns it is alone from its own hello: SPUBLISH answering 1 and the hello coming
 * back on its own subscriber connection (so the 1 is this node) with no other node's
 * hello seen meanwhile. Anything else (another hello, a reconnect, a failed check) makes
 * it publish through Redis again. A node leaving says `bye`; the nodes left ask again.
 */

/** Control messages on a channel; never handed to the bus's handlers. */
type Control = { kind: '_hello'; node: string; nonce: number } | { kind: '_bye'; node: string };

interface ChannelState {
  solo: boolean;
  /** Bumped by every other node's hello: a check that started before it does not count. */
  epoch: number;
}

export class SoleSubscriber {
  private readonly node = randomUUID();
  private nonce = 0;
  private readonly channels = new Map<string, ChannelState>();
  /** Own hellos in flight: nonce → whether it came back on the subscriber connection. */
  private readonly echoes = new Map<number, boolean>();

  constructor(
    private readonly io: {
      /** SPUBLISH; answers how many subscriber connections took the message. */
      publish(channel: string, payload: string): Promise<number>;
      /** Resolves once everything Redis sent this node on the channel before the call was handed over. */
      barrier(channel: string): Promise<void>;
    },
  ) {}

  /** A channel this node now subscribes: starts out shared (published through Redis). */
  track(channel: string): void {
    if (!this.channels.has(channel)) this.channels.set(channel, { solo: false, epoch: 0 });
  }

  forget(channel: string): void {
    this.channels.delete(channel);
  }

  tracked(): string[] {
    return [...this.channels.keys()];
  }

  /** Whether the last check found no other subscriber; the caller acts on it only after a barrier, and asks again then. */
  isSolo(channel: string): boolean {
    return this.channels.get(channel)?.solo === true;
  }

  /** After a lost connection nothing known still holds: every channel is shared until checked again. */
  reset(): void {
    for (const state of this.channels.values()) {
      state.solo = false;
      state.epoch++;
    }
  }

  /**
   * Announces this node on the channel: resolves once Redis took the hello (rejects if it
   * did not). Whether this node is alone there is settled after that, without holding
   * the caller up.
   */
  async announce(channel: string): Promise<void> {
    const state = this.channels.get(channel);
    if (!state) return;
    const epoch = state.epoch;
    const nonce = ++this.nonce;
    this.echoes.set(nonce, false);
    let count: number;
    try {
      count = await this.io.publish(channel, JSON.stringify({ kind: '_hello', node: this.node, nonce } satisfies Control));
    } catch (err) {
      this.echoes.delete(nonce);
      throw err;
    }
    if (count !== 1) {
      this.echoes.delete(nonce);
      return;
    }
    // The hello already reached everyone: a failed check only leaves the channel shared.
    void this.io.barrier(channel).then(
      () => {
        if (this.echoes.get(nonce) === true && this.channels.get(channel) === state && state.epoch === epoch) state.solo = true;
        this.echoes.delete(nonce);
      },
      () => this.echoes.delete(nonce),
    );
  }

  /** Tells the other subscribers this node left (best effort: they only keep publishing through Redis). */
  async leave(channel: string): Promise<void> {
    await this.io.publish(channel, JSON.stringify({ kind: '_bye', node: this.node } satisfies Control)).catch(() => undefined);
  }

  /** Handles a control message; false when `message` is not one (an ordinary event). */
  handle(channel: string, message: string): boolean {
    // Cheap test first: ordinary events never start with this.
    if (!message.startsWith('{"kind":"_')) return false;
    let control: Control;
    try {
      control = JSON.parse(message) as Control;
    } catch {
      return false;
    }
    const state = this.channels.get(channel);
    if (control.kind === '_hello') {
      if (control.node === this.node) {
        if (this.echoes.has(control.nonce)) this.echoes.set(control.nonce, true);
      } else if (state) {
        state.solo = false;
        state.epoch++;
      }
    } else if (control.kind === '_bye' && control.node !== this.node && state && !state.solo) {
      void this.announce(channel).catch(() => undefined);
    }
    return true;
  }
}
