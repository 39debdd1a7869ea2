/* global self, URL */
/*
 * Switchboard's service worker: shows a notification for each Web Push (PROTOCOL.md "Push
 * notifications") and brings the app forward when it is clicked. Payloads carry no content
 * by default ({v, type, chat_id, message_id, seq}); with PUSH_PREVIEW=on they also carry
 * sender_name and preview. Served at /sw.js with no-cache so that an update is seen at once.
 */
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data;
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = typeof data.sender_name === 'string' && data.sender_name ? data.sender_name : 'New message';
  const body = typeof data.preview === 'string' ? data.preview : typeof data.sender_name === 'string' ? 'New message' : '';
  const chatId = typeof data.chat_id === 'string' ? data.chat_id : null;
  event.waitUntil(
    self.registration.showNotification(title, {
      body,
      tag: chatId ? `chat:${chatId}` : 'switchboard',
      data: { chat_id: chatId },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const chatId = event.notification.data && event.notification.data.chat_id;
  const url = chatId ? `/chat/${encodeURIComponent(chatId)}` : '/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const w of windows) {
        if (new URL(w.url).origin === self.location.origin) return w.focus();
      }
      return self.clients.openWindow(url);
    })(),
  );
});
