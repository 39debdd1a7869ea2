import sharp from 'sharp';
import { THUMBNAIL_MAX_PX } from '@switchboard/protocol';
import { baseType } from './media-types.js';
import { runBounded, type MediaTools, type ToolBounds } from './media-tools.js';

/*
 * Previews of what sharp cannot decode: a video's dimensions, duration and poster frame
 * (ffprobe, then ffmpeg), a PDF's first page (pdftoppm). The same rules as images: the
 * header first (ffprobe reads no pixels), nothing past the pixel limit is decoded, each
 * run is bounded in time, memory and output (media-tools.ts), and a file that does not
 * read as what it claims is a plain file. ffmpeg opens only local files of the video
 * containers below: a playlist or concat file naming other files or URLs is refused.
 */

/** Demuxers a video may be read with (ffmpeg's names; the first is one demuxer with six). */
const VIDEO_DEMUXERS = 'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,ogg,flv';
const INPUT_GUARDS = ['-protocol_whitelist', 'file', '-format_whitelist', VIDEO_DEMUXERS];

/** A run's bounds: the image decode's 10 s, and memory for one frame at the pixel limit and the tool's own. */
const BOUNDS: ToolBounds = { timeoutMs: 10_000, memoryBytes: 1024 * 1024 * 1024, maxOutputBytes: 4 * 1024 * 1024 };

export interface PreviewFacts {
  width?: number;
  height?: number;
  durationMs?: number;
  thumbnail: { body: Buffer; contentType: string; width: number; height: number } | null;
  skipped?: 'too_large' | 'failed';
}

/** Which preview a file gets with these tools: its declared type, and for a PDF its first bytes too. */
export function previewKind(declared: string, head: Buffer, tools: MediaTools): 'video' | 'pdf' | null {
  const base = baseType(declared);
  if (base.startsWith('video/') && tools.ffprobe && tools.ffmpeg) return 'video';
  if (base === 'application/pdf' && tools.pdftoppm && head.toString('latin1', 0, 5) === '%PDF-') return 'pdf';
  return null;
}

interface ProbedStream {
  width?: number;
  height?: number;
  duration?: string;
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
}

/**
 * A video's displayed dimensions, duration and a poster frame at most THUMBNAIL_MAX_PX on
 * its longer side (JPEG), taken 1 s in (at the start of a shorter one). Null when ffprobe
 * finds no video stream in an allowed container: the file is sent as a plain file.
 */
export async function inspectVideo(file: string, tools: MediaTools, maxPixels: number): Promise<PreviewFacts | null> {
  let probed: { streams?: ProbedStream[]; format?: { duration?: string } };
  try {
    const out = await runBounded(
      tools.ffprobe!,
      ['-v', 'error', ...INPUT_GUARDS, '-print_format', 'json', '-show_streams', '-show_format', '-select_streams', 'v:0', `file:${file}`],
      BOUNDS,
    );
    probed = JSON.parse(out.toString('utf8')) as typeof probed;
  } catch {
    return null;
  }
  const stream = probed.streams?.[0];
  if (!stream?.width || !stream.height) return null;
  const rotation = Math.abs(Number(stream.side_data_list?.find((s) => s.rotation !== undefined)?.rotation ?? stream.tags?.rotate ?? 0));
  const turned = rotation % 180 === 90;
  const width = turned ? stream.height : stream.width;
  const height = turned ? stream.width : stream.height;
  const seconds = Number(stream.duration ?? probed.format?.duration);
  const durationMs = Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const facts = { width, height, ...(durationMs !== undefined ? { durationMs } : {}) };
  if (width * height > maxPixels) return { ...facts, thumbnail: null, skipped: 'too_large' };
  const at = durationMs !== undefined && durationMs > 2000 ? '1' : '0';
  const size = `scale=w=min(${THUMBNAIL_MAX_PX}\\,iw):h=min(${THUMBNAIL_MAX_PX}\\,ih):force_original_aspect_ratio=decrease`;
  try {
    // -max_pixels: the decoder refuses a larger frame whatever the header said.
    const args = ['-nostdin', '-v', 'error', '-threads', '1', ...INPUT_GUARDS, '-max_pixels', String(maxPixels), '-ss', at];
    args.push('-i', `file:${file}`, '-map', '0:v:0', '-frames:v', '1', '-filter_threads', '1', '-vf', size);
    args.push('-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '5', 'pipe:1');
    return { ...facts, thumbnail: await jpeg(await runBounded(tools.ffmpeg!, args, BOUNDS)) };
  } catch {
    return { ...facts, thumbnail: null, skipped: 'failed' };
  }
}

/** A PDF's first page, at most THUMBNAIL_MAX_PX on its longer side (JPEG); null when it does not render. */
export async function inspectPdf(file: string, tools: MediaTools): Promise<PreviewFacts | null> {
  try {
    const out = await runBounded(
      tools.pdftoppm!,
      ['-f', '1', '-l', '1', '-scale-to', String(THUMBNAIL_MAX_PX), '-jpeg', '-singlefile', file],
      BOUNDS,
    );
    return { thumbnail: await jpeg(out) };
  } catch {
    return null;
  }
}

/** The tool's output, checked to be a JPEG of the size a thumbnail may be (its header only). */
async function jpeg(body: Buffer): Promise<NonNullable<PreviewFacts['thumbnail']>> {
  const meta = await sharp(body).metadata();
  if (meta.format !== 'jpeg' || !meta.width || !meta.height || Math.max(meta.width, meta.height) > THUMBNAIL_MAX_PX)
    throw new Error('not a thumbnail');
  return { body, contentType: 'image/jpeg', width: meta.width, height: meta.height };
}
