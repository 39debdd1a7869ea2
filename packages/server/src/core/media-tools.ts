import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/*
 * The outside programs that preview media the server cannot decode itself: ffprobe and
 * ffmpeg (videos), pdftoppm (PDFs). Each is optional: found on the search path when the
 * server starts, or the files they would preview are plain files. Each run is bounded:
 * killed after a time, its address space capped (ulimit -v, set by /bin/sh before it execs
 * the tool), its output capped, so a hostile file costs at most that.
 */

export interface MediaTools {
  ffprobe: string | null;
  ffmpeg: string | null;
  pdftoppm: string | null;
}

/** Where each tool is in `searchPath` (PATH's form: directories joined by ':'), or null. */
export function findMediaTools(searchPath: string): MediaTools {
  const find = (name: string): string | null => {
    for (const dir of searchPath.split(path.delimiter)) {
      if (!dir) continue;
      const file = path.join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        /* not here */
      }
    }
    return null;
  };
  return { ffprobe: find('ffprobe'), ffmpeg: find('ffmpeg'), pdftoppm: find('pdftoppm') };
}

export interface ToolBounds {
  /** Killed (SIGKILL) after this long. */
  timeoutMs: number;
  /** Its address space, in bytes: past it allocations fail and the tool gives up. */
  memoryBytes: number;
  /** Its standard output, in bytes: past it the tool is killed. */
  maxOutputBytes: number;
}

export class ToolFailed extends Error {}

/**
 * Runs `file` with `args` (never through a shell's parsing: /bin/sh only sets the limit
 * and execs it with the arguments as given) and answers its standard output; rejects with
 * ToolFailed when it exits non-zero, is killed, or passes a bound.
 */
export function runBounded(file: string, args: string[], bounds: ToolBounds): Promise<Buffer> {
  const kib = Math.max(1, Math.floor(bounds.memoryBytes / 1024));
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `ulimit -v ${kib} && exec "$0" "$@"`, file, ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let why: string | null = null;
    const kill = (reason: string) => {
      why ??= reason;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`took more than ${bounds.timeoutMs} ms`), bounds.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bounds.maxOutputBytes) return kill(`wrote more than ${bounds.maxOutputBytes} bytes`);
      chunks.push(chunk);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new ToolFailed(`${path.basename(file)}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (why || code !== 0)
        reject(new ToolFailed(`${path.basename(file)}: ${why ?? (signal ? `killed by ${signal}` : `exit code ${code}`)}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}
