import { copyFile, link, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as tar from 'tar';

/*
 * `switchboard backup FILE` / `switchboard restore FILE` for an embedded server (README
 * "Backups"). One gzipped tar holds everything DATA_DIR needs: a snapshot of the SQLite
 * store, the media objects and their URL key, the VAPID key pair, and a manifest.
 *
 * The backup opens the store's file itself rather than asking the running server through
 * an admin endpoint: in WAL mode a reader never blocks the server's writer (nor the writer
 * it), so this needs no token, no new route and no bytes through the server's event loop,
 * and it works the same whether the server runs or not. It must run where DATA_DIR is, which
 * it has to anyway for the media folder. SQLite's online backup API copies every page in
 * one step, so in one read transaction: a consistent snapshot of the moment it began,
 * whatever the server commits meanwhile (copied in several steps, each commit by the server
 * between steps would restart it, and under steady load it might never finish).
 *
 * Media objects are hard-linked (copied across file systems) after the snapshot: an object
 * is immutable once stored, so a link is as good as a copy, and an object deleted after
 * the snapshot was taken is still held by the link when it comes first. One deleted in the
 * moment between the snapshot and its link is missing from the archive; its message was
 * being deleted anyway (a delete for everyone, retention), and the restored server answers
 * 404 for it. An upload that lands after the snapshot is an orphan the sweeper removes.
 */

const DB_FILE = 'switchboard.db';
const MANIFEST = 'backup.json';
/** What DATA_DIR holds besides the store, and a restore may bring back. */
const KEPT = ['media/objects', 'media/url-key', 'vapid.json'];
const FORMAT = 'switchboard-backup';
/** Pages per backup step: all of them, so the snapshot is one read transaction. */
const ALL_PAGES = 0x7fffffff;

export interface BackupSummary {
  file: string;
  bytes: number;
  mediaObjects: number;
  schemaVersion: number;
}

interface Manifest {
  format: typeof FORMAT;
  version: 1;
  created_at: number;
  schema_version: number;
  media_objects: number;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Hard-links (or copies, across file systems) every file under `from` into `to`; answers how many. */
async function linkTree(from: string, to: string): Promise<number> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  let n = 0;
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) n += await linkTree(src, dst);
    else if (entry.isFile()) {
      try {
        await link(src, dst);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue; // deleted since it was listed
        if (code !== 'EXDEV' && code !== 'EPERM') throw err;
        await copyFile(src, dst).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
      n++;
    }
  }
  return n;
}

/** Writes a backup of dataDir (a running server's or a stopped one's) to `file`, atomically (renamed into place when whole). */
export async function backupDataDir(dataDir: string, file: string): Promise<BackupSummary> {
  const dbFile = path.join(dataDir, DB_FILE);
  if (!(await exists(dbFile))) throw new Error(`no embedded store in ${dataDir} (${DB_FILE} not found)`);
  const out = path.resolve(file);
  const staging = await mkdtemp(path.join(path.dirname(out), `.${path.basename(out)}.`));
  try {
    const source = new Database(dbFile, { fileMustExist: true });
    let schemaVersion: number;
    try {
      source.pragma('busy_timeout = 10000');
      await source.backup(path.join(staging, DB_FILE), { progress: () => ALL_PAGES });
      schemaVersion = source.pragma('user_version', { simple: true }) as number;
    } finally {
      source.close();
    }
    const copy = new Database(path.join(staging, DB_FILE), { fileMustExist: true });
    try {
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the snapshot failed its check: ${String(check)}`);
    } finally {
      copy.close();
    }
    let mediaObjects = 0;
    for (const rel of KEPT) {
      const src = path.join(dataDir, rel);
      const st = await stat(src).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) mediaObjects += await linkTree(src, path.join(staging, rel));
      else {
        await mkdir(path.dirname(path.join(staging, rel)), { recursive: true, mode: 0o700 });
        await copyFile(src, path.join(staging, rel));
      }
    }
    const manifest: Manifest = {
      format: FORMAT,
      version: 1,
      created_at: Date.now(),
      schema_version: schemaVersion,
      media_objects: mediaObjects,
    };
    await writeFile(path.join(staging, MANIFEST), JSON.stringify(manifest, null, 2));
    const entries = [MANIFEST, DB_FILE, ...(await Promise.all(KEPT.map(async (k) => ((await exists(path.join(staging, k))) ? k : null))))];
    const partial = path.join(staging, 'archive.tgz');
    await tar.create(
      { gzip: true, file: partial, cwd: staging, portable: true },
      entries.filter((e): e is string => e !== null),
    );
    await rename(partial, out);
    return { file: out, bytes: (await stat(out)).size, mediaObjects, schemaVersion };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Whether a restore may take this path: only what a backup writes. */
function restorable(p: string): boolean {
  const clean = p.replace(/^\.\//, '').replace(/\/$/, '');
  return clean === MANIFEST || clean === DB_FILE || clean === 'media' || KEPT.some((k) => clean === k || clean.startsWith(`${k}/`));
}

/**
 * Puts a backup into dataDir. A data folder that exists and is not empty is refused unless
 * `force` (then what it held is replaced; the server on it must be stopped). The archive is
 * unpacked and checked beside the folder first, so a bad archive leaves the folder as it was.
 */
export async function restoreDataDir(
  file: string,
  dataDir: string,
  opts: { force?: boolean } = {},
): Promise<{ schemaVersion: number; mediaObjects: number }> {
  const target = path.resolve(dataDir);
  const existing = await readdir(target).catch(() => null);
  if (existing && existing.length > 0 && !opts.force) throw new Error(`${target} is not empty (pass --force to replace what it holds)`);
  await mkdir(path.dirname(target), { recursive: true });
  const staging = await mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.restoring-`));
  try {
    await tar.extract({ file: path.resolve(file), cwd: staging, filter: (p) => restorable(p) });
    const manifest = JSON.parse(await readFile(path.join(staging, MANIFEST), 'utf8').catch(() => '{}')) as Partial<Manifest>;
    if (manifest.format !== FORMAT) throw new Error(`${file} is not a switchboard backup`);
    const db = new Database(path.join(staging, DB_FILE), { fileMustExist: true });
    try {
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the backup's store failed its check: ${String(check)}`);
    } finally {
      db.close();
    }
    await rm(path.join(staging, MANIFEST));
    if (existing) {
      // Forced (or an empty folder): what it held goes, the backup's files come in.
      for (const name of existing) await rm(path.join(target, name), { recursive: true, force: true });
      for (const name of await readdir(staging)) await rename(path.join(staging, name), path.join(target, name));
    } else {
      await rename(staging, target);
    }
    return { schemaVersion: manifest.schema_version ?? 0, mediaObjects: manifest.media_objects ?? 0 };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
