import type { E2ee, SwitchboardClient } from '@switchboard/client';

/*
 * Starting end-to-end encryption in this tab: only where it can work (WebCrypto, which
 * browsers give secure contexts only; IndexedDB), and in one tab of a device at a time. Two
 * tabs of one browser are one device, that is one MLS member with one sending ratchet:
 * two E2ee instances on its state would each send with the same key. A Web Lock per device
 * decides which tab does encryption; the others say why they cannot.
 */

/**
 * Encryption running in this tab, or why not. `deferToOtherTab`: this device can do
 * encryption in this browser (another tab does, or will after a reload), so this tab must
 * leave the device's commits and ciphertexts unacknowledged for it.
 */
export type CryptoSession = { e2ee: E2ee; close(): void } | { reason: string; deferToOtherTab: boolean };

/** How long a tab waits for the lock (a reload's old page may still hold it a moment). */
const LOCK_WAIT_MS = 3000;

export async function openCrypto(client: SwitchboardClient, deviceId: string): Promise<CryptoSession> {
  // No tab of this origin can ever decrypt here: nothing is left waiting for one.
  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle)
    return { reason: 'Encrypted chats need a secure connection (HTTPS).', deferToOtherTab: false };
  if (typeof indexedDB === 'undefined')
    return { reason: 'Encrypted chats need IndexedDB, which this browser does not allow here.', deferToOtherTab: false };
  const release = await tabLock(`switchboard.e2ee.${deviceId}`);
  if (!release) return { reason: 'Encrypted chats are open in another tab of this browser.', deferToOtherTab: true };
  try {
    const { openEngine } = await import('./engine.js');
    const engine = await openEngine(client, deviceId);
    return {
      e2ee: engine.e2ee,
      close: () => {
        engine.close();
        release();
      },
    };
  } catch (err) {
    release();
    // Perhaps for a moment only (storage busy): the device's state is kept for a later load.
    return { reason: `Encryption could not start here: ${err instanceof Error ? err.message : String(err)}`, deferToOtherTab: true };
  }
}

/** Holds the lock `name` until the returned function is called; null when another tab keeps it. */
function tabLock(name: string): Promise<(() => void) | null> {
  const locks = (navigator as { locks?: LockManager }).locks;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), LOCK_WAIT_MS);
    locks
      .request(name, { signal: abort.signal }, () => {
        clearTimeout(timer);
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(() => resolve(null));
  });
}
