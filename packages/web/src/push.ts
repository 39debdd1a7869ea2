import { SwitchboardClient } from '@switchboard/client';

/*
 * Browser notifications through Web Push (PROTOCOL.md "Push notifications"): a service
 * worker (public/sw.js, served at /sw.js) shows them; this registers it, subscribes with the
 * server's VAPID key and hands the subscription to the server as this device's push target.
 */

export type PushState = 'unsupported' | 'off' | 'busy' | 'on';

/** Why this browser cannot have notifications, or null when it can. */
export function pushUnsupportedReason(): string | null {
  if (typeof window === 'undefined' || !('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window))
    return 'This browser does not support notifications.';
  if (!window.isSecureContext) return 'Notifications need HTTPS (or localhost).';
  return null;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Whether this browser already has a subscription and permission (notifications are on). */
export async function pushEnabled(): Promise<boolean> {
  if (pushUnsupportedReason() || Notification.permission !== 'granted') return false;
  const reg = await navigator.serviceWorker.getRegistration('/');
  return !!(await reg?.pushManager.getSubscription());
}

export async function enablePush(baseUrl: string, client: SwitchboardClient): Promise<void> {
  const why = pushUnsupportedReason();
  if (why) throw new Error(why);
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications are blocked for this site in the browser settings.');
  await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  const reg = await navigator.serviceWorker.ready;
  const key = await SwitchboardClient.webPushKey(baseUrl);
  const sub =
    (await reg.pushManager.getSubscription()) ??
    (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
  const json = sub.toJSON();
  if (!json.endpoint || !json.keys?.p256dh || !json.keys.auth) throw new Error('The browser gave an incomplete push subscription.');
  await client.registerPush({
    provider: 'webpush',
    subscription: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } },
  });
}

export async function disablePush(client: SwitchboardClient): Promise<void> {
  await client.unregisterPush();
  const reg = await navigator.serviceWorker.getRegistration('/');
  await (await reg?.pushManager.getSubscription())?.unsubscribe();
}
