/*
 * Where the E2ee layer keeps its secrets: the device's signature key, its private key
 * packages and each group's MLS state. Keys are short names ("identity", "kp/<ref>",
 * "group/<chat_id>"); values are bytes. Each put replaces its value atomically (all or
 * nothing): a crash never leaves half a group state.
 */
export interface E2eeStorage {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** The keys starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
}

/** Keeps everything in memory: for tests and throwaway sessions (nothing survives the process). */
export class MemoryStorage implements E2eeStorage {
  private readonly map = new Map<string, Uint8Array>();
  async get(key: string) {
    return this.map.get(key);
  }
  async put(key: string, value: Uint8Array) {
    this.map.set(key, value.slice());
  }
  async delete(key: string) {
    this.map.delete(key);
  }
  async list(prefix: string) {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix));
  }
}

/** The parts of node:fs/promises the folder storage uses (this package compiles without Node's types). */
interface NodeFs {
  mkdir(path: string, opts: { recursive: boolean; mode?: number }): Promise<unknown>;
  readFile(path: string): Promise<Uint8Array>;
  readdir(path: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  open(
    path: string,
    flags: string,
    mode?: number,
  ): Promise<{ writeFile(d: Uint8Array): Promise<void>; sync(): Promise<void>; close(): Promise<void> }>;
}

/**
 * Node only: one file per key in `dir` (created private, 0700; files 0600). A put writes a
 * temporary file, syncs it to disk and renames it over the old one, so a crash leaves either
 * the old value or the new one. Node's fs is loaded at run time, so browser bundles of this
 * package never reach it (browsers use an IndexedDB storage of their own).
 */
export async function folderStorage(dir: string): Promise<E2eeStorage> {
  const specifier = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ specifier)) as NodeFs;
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = (key: string) => `${dir}/${encodeURIComponent(key)}`;
  const missing = (err: unknown) => (err as { code?: string }).code === 'ENOENT';
  let tmpCounter = 0;
  return {
    async get(key) {
      try {
        return new Uint8Array(await fs.readFile(file(key)));
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    },
    async put(key, value) {
      const tmp = `${file(key)}.tmp${++tmpCounter}`;
      const h = await fs.open(tmp, 'w', 0o600);
      try {
        await h.writeFile(value);
        await h.sync();
      } finally {
        await h.close();
      }
      await fs.rename(tmp, file(key));
    },
    async delete(key) {
      await fs.unlink(file(key)).catch((err: unknown) => {
        if (!missing(err)) throw err;
      });
    },
    async list(prefix) {
      return (await fs.readdir(dir))
        .filter((n) => !n.includes('.tmp'))
        .map((n) => decodeURIComponent(n))
        .filter((k) => k.startsWith(prefix));
    },
  };
}
