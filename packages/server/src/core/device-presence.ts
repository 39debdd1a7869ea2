import type { PresenceStore } from '../engines/presence-store/presence-store.js';
import type { Logger } from '../util/logger.js';

export interface DevicePresenceDeps {
  /** A presence store keyed by device id (engines.devicePresence). */
  store: PresenceStore;
  nodeName: string;
  /** Devices with a socket on this node (the heartbeat renews them). */
  localDevices: () => string[];
  heartbeatMs: number;
  log: Logger;
}

/**
 * Which devices have an open socket, on any node: what decides whether a device is
 * woken by a push (PROTOCOL.md: a device with an open socket gets none). Entries of a
 * node that dies expire with the presence timeout, like user presence.
 */
export class DevicePresence {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DevicePresenceDeps) {}

  start(): void {
    this.timer ??= setInterval(() => void this.heartbeat(), this.deps.heartbeatMs);
    this.timer.unref();
  }

  /** The device's first socket on this node opened. */
  async arrived(deviceId: string): Promise<void> {
    await this.deps.store.setOnline(deviceId, this.deps.nodeName);
  }

  /** The device's last socket on this node closed. */
  async left(deviceId: string): Promise<void> {
    await this.deps.store.setOffline(deviceId, this.deps.nodeName);
  }

  isOnline(deviceIds: string[]): Promise<boolean[]> {
    return this.deps.store.isOnline(deviceIds);
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.deps.store.refresh(this.deps.localDevices(), this.deps.nodeName);
    } catch (err) {
      this.deps.log.warn({ err }, 'device presence heartbeat failed');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
