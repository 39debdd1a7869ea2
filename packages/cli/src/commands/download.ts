import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs } from 'node:util';
import { sessionClient, httpCall } from '../context.js';
import { CliError } from '../errors.js';

/** The filename a Content-Disposition names (filename*=UTF-8''…), without any directory part. */
function dispositionName(header: string | null): string | null {
  const m = /filename\*=UTF-8''([^;]+)/i.exec(header ?? '');
  if (!m) return null;
  try {
    const name = decodeURIComponent(m[1]!).replace(/[/\\]/g, '_');
    return name === '' || name === '.' || name === '..' ? null : name;
  } catch {
    return null;
  }
}

/** `switchboard download <media_id> [-o FILE]`: streams a media to a file ("-": stdout). */
export async function download(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { output: { type: 'string', short: 'o' } } });
  const [mediaId] = positionals;
  if (!mediaId) throw new CliError('usage: switchboard download <media_id> [-o FILE]');
  const { client } = sessionClient();
  const res = await httpCall('download', () => client.downloadMedia(mediaId));
  const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  if (values.output === '-') {
    await pipeline(body, process.stdout);
    return 0;
  }
  const file = values.output ?? dispositionName(res.headers.get('content-disposition')) ?? mediaId;
  await pipeline(body, createWriteStream(file, { flags: 'wx' })).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(err.code === 'EEXIST' ? `${file} exists; choose another with -o` : `cannot write ${file}: ${err.message}`);
  });
  process.stdout.write(`${file} (${res.headers.get('content-type') ?? 'unknown type'})\n`);
  return 0;
}
