/*
 * Push targets as the store keeps them: one per device, replaced by each registration,
 * gone with the device's session. `data` is the provider's part as JSON; a sender that
 * learns a target is dead deletes it only if it is still that same target (the device
 * may have registered a new one meanwhile).
 */

export type PushTarget =
  | { provider: 'webpush'; endpoint: string; p256dh: string; auth: string }
  | { provider: 'apns'; token: string; environment: 'production' | 'sandbox' }
  | { provider: 'fcm'; token: string };

export type PushProviderName = PushTarget['provider'];

export interface PushTargetRecord {
  deviceId: string;
  userId: string;
  target: PushTarget;
}

/** The stored form: fields in a fixed order, so two equal targets serialize equally. */
export function encodePushTarget(t: PushTarget): { provider: PushProviderName; data: string } {
  switch (t.provider) {
    case 'webpush':
      return { provider: t.provider, data: JSON.stringify([t.endpoint, t.p256dh, t.auth]) };
    case 'apns':
      return { provider: t.provider, data: JSON.stringify([t.token, t.environment]) };
    case 'fcm':
      return { provider: t.provider, data: JSON.stringify([t.token]) };
  }
}

export function decodePushTarget(provider: string, data: string): PushTarget | null {
  const a = JSON.parse(data) as string[];
  if (provider === 'webpush') return { provider, endpoint: a[0]!, p256dh: a[1]!, auth: a[2]! };
  if (provider === 'apns') return { provider, token: a[0]!, environment: a[1] === 'sandbox' ? 'sandbox' : 'production' };
  if (provider === 'fcm') return { provider, token: a[0]! };
  return null;
}
