/*
 * The E2ee layer alone (`@switchboard/client/e2ee`): what an app loads lazily, so that ts-mls
 * stays out of its first page. Everything here is also exported by the package's main entry.
 */
export {
  E2ee,
  type E2eeEvents,
  type E2eeOptions,
  type DecryptedMessage,
  type DecryptedChange,
  type RefusedChange,
  type FileToSend,
} from './e2ee.js';
export type { EncryptedFile } from './app-message.js';
export { decryptFile, type FileKey } from './file-crypto.js';
export { MemoryStorage, folderStorage, type E2eeStorage } from './storage.js';
export { indexedDbStorage, deleteIndexedDbStorage, type IndexedDbStorage } from './indexeddb-storage.js';
