import { E2ee, indexedDbStorage } from '@switchboard/client/e2ee';
import type { SwitchboardClient } from '@switchboard/client';

/** For the device's tabs that do not run encryption: they open kept files with the key alone (state/encryption.ts). */
export { decryptFile } from '@switchboard/client/e2ee';

/*
 * Loaded lazily (session.ts imports it with import()): this is where ts-mls enters the
 * bundle, and the first page does without it. One IndexedDB database per device: the
 * device's MLS identity, key packages and groups (the SDK's E2eeStorage).
 */
export async function openEngine(client: SwitchboardClient, deviceId: string): Promise<{ e2ee: E2ee; close(): void }> {
  const storage = await indexedDbStorage(`switchboard.mls.${deviceId}`);
  try {
    const e2ee = await E2ee.open(client, { storage });
    return {
      e2ee,
      close: () => {
        e2ee.close();
        storage.close();
      },
    };
  } catch (err) {
    storage.close();
    throw err;
  }
}
