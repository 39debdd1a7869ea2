import type { E2eeStorage } from './storage.js';

/*
 * Browsers: the E2ee state in one IndexedDB database (one object store, string keys, byte
 * values). Each put is one readwrite transaction with strict durability: the value is on
 * disk, whole, when put resolves, or the transaction aborted and the old value stands (the
 * all-or-nothing that E2eeStorage promises; "relaxed", Chrome's default, may lose a
 * committed put in a power cut, and a lost group state means a reused sending key).
 * Only `indexedDB` is touched, and only when called: Node never loads it.
 */

const STORE = 'kv';

/** An E2eeStorage that can also be closed (so that its database can be deleted). */
export interface IndexedDbStorage extends E2eeStorage {
  close(): void;
}

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}

/** Opens (creating it the first time) the IndexedDB database `name` as an E2eeStorage. */
export async function indexedDbStorage(name: string): Promise<IndexedDbStorage> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) throw new Error('IndexedDB is not available here');
  const open = idb.open(name, 1);
  open.onupgradeneeded = () => {
    if (!open.result.objectStoreNames.contains(STORE)) open.result.createObjectStore(STORE);
  };
  const db = await done(open);
  // Another tab deleting or upgrading the database: let it, this connection is done.
  db.onversionchange = () => db.close();
  const tx = (mode: IDBTransactionMode) => db.transaction(STORE, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined);
  return {
    async get(key) {
      const v = (await done(tx('readonly').objectStore(STORE).get(key))) as Uint8Array | ArrayBuffer | undefined;
      if (v === undefined) return undefined;
      return v instanceof Uint8Array ? v : new Uint8Array(v);
    },
    async put(key, value) {
      const t = tx('readwrite');
      // A copy: the caller may reuse its buffer once put resolves (structured clone copies at put time anyway).
      t.objectStore(STORE).put(value.slice(), key);
      await committed(t);
    },
    async delete(key) {
      const t = tx('readwrite');
      t.objectStore(STORE).delete(key);
      await committed(t);
    },
    async list(prefix) {
      // Keys are strings, ordered by code unit: those with the prefix form one run from it.
      const keys = (await done(tx('readonly').objectStore(STORE).getAllKeys(IDBKeyRange.lowerBound(prefix)))) as IDBValidKey[];
      const out: string[] = [];
      for (const k of keys) {
        if (typeof k !== 'string' || !k.startsWith(prefix)) break;
        out.push(k);
      }
      return out;
    },
    close() {
      db.close();
    },
  };
}

/** Deletes the database `name` (close its storage first; an open connection elsewhere is asked to close). */
export async function deleteIndexedDbStorage(name: string): Promise<void> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) return;
  await done(idb.deleteDatabase(name));
}
