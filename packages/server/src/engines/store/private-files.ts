import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

/*
 * The embedded store's folder and files hold password hashes, tokens' hashes and every
 * message: only the server's own user may read them, whatever the process umask.
 */

/** Creates the folder 0700 (and makes it 0700 if this server created it earlier with looser bits). */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Creates `file` 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
 * mode of the database file, so they come out 0600 too.
 */
export function privateFile(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/** Tightens files that already exist (a database made by an older version). */
export function tightenFiles(files: string[]): void {
  for (const f of files) if (existsSync(f)) chmodSync(f, 0o600);
}
