import { ECDH } from 'node:crypto';
import type { PushTargetBody } from '@switchboard/protocol';
import type { PushTarget } from '../engines/store/push-targets.js';
import type { Store } from '../engines/store/store.js';
import { ApiError } from '../core/errors.js';
import type { EndpointAllowList } from './endpoints.js';

export interface PushRegistrationDeps {
  store: Store;
  allowList: EndpointAllowList;
  /** Why a provider cannot be used (not configured), or absent when it can. */
  unavailable: { apns?: string; fcm?: string };
  vapidPublicKey: string;
  /** Tells every node this user now has a target (push/target-owners.ts). */
  announce?: (userId: string) => Promise<void>;
}

const bad = (message: string) => new ApiError(400, 'invalid_request', message);

/** PUT / DELETE /v1/devices/current/push: checks a target fully before anything is stored. */
export class PushRegistration {
  constructor(private readonly deps: PushRegistrationDeps) {}

  get vapidPublicKey(): string {
    return this.deps.vapidPublicKey;
  }

  async register(device: { id: string; userId: string }, body: PushTargetBody): Promise<void> {
    await this.deps.store.setPushTarget(device.id, device.userId, this.target(body));
    // Before the answer: every node must stop treating this user as one without targets.
    await this.deps.announce?.(device.userId);
  }

  async unregister(device: { id: string }): Promise<void> {
    await this.deps.store.deletePushTarget(device.id);
  }

  private target(body: PushTargetBody): PushTarget {
    switch (body.provider) {
      case 'webpush': {
        const { endpoint, keys } = body.subscription;
        const why = this.deps.allowList.check(endpoint);
        if (why) throw bad(`subscription.endpoint: ${why}`);
        const p256dh = Buffer.from(keys.p256dh, 'base64url');
        try {
          // Throws unless it is a point on P-256; the encryption needs exactly that.
          if (p256dh.length !== 65 || p256dh[0] !== 4) throw new Error('not uncompressed');
          ECDH.convertKey(p256dh, 'prime256v1');
        } catch {
          throw bad('subscription.keys.p256dh: not an uncompressed P-256 public key');
        }
        if (Buffer.from(keys.auth, 'base64url').length !== 16) throw bad('subscription.keys.auth: must be 16 bytes');
        return {
          provider: 'webpush',
          endpoint,
          p256dh: p256dh.toString('base64url'),
          auth: Buffer.from(keys.auth, 'base64url').toString('base64url'),
        };
      }
      case 'apns':
        if (this.deps.unavailable.apns) throw bad(`apns: ${this.deps.unavailable.apns}`);
        return { provider: 'apns', token: body.token.toLowerCase(), environment: body.environment ?? 'production' };
      case 'fcm':
        if (this.deps.unavailable.fcm) throw bad(`fcm: ${this.deps.unavailable.fcm}`);
        return { provider: 'fcm', token: body.token };
    }
  }
}
