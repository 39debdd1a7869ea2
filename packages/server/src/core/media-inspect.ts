import sharp, { type Metadata } from 'sharp';
import { THUMBNAIL_MAX_PX } from '@switchboard/protocol';
import { baseType } from './media-types.js';

/*
 * What the bytes of an upload really are. A declared image type is checked against the
 * bytes' magic number before anything decodes them: a file declared image/png that is not
 * a PNG gets no dimensions and no thumbnail. It is still served as declared (PROTOCOL.md:
 * "with the media's Content-Type"), with nosniff like every media, so a browser never
 * runs it as anything else. Images are decoded by sharp (libvips), which runs on libuv's
 * thread pool, off the event loop.
 */

/** The image type the first bytes show, or null. */
export function sniffImage(head: Buffer): 'image/jpeg' | 'image/png' | 'image/webp' | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp']);

/** True when the declared type is an image type the server measures and the first bytes are that format. */
export function isVerifiedImage(declared: string, head: Buffer): boolean {
  const base = baseType(declared);
  return IMAGE_TYPES.has(base) && sniffImage(head) === base;
}

/** The type to serve for a declared type: as declared (a verified image's bare type, lower case). */
export function servedType(declared: string, head: Buffer): string {
  return isVerifiedImage(declared, head) ? baseType(declared) : declared;
}

/** What an image may cost to thumbnail (README "Media"); past it the image is sent without one. */
export interface ThumbnailLimits {
  /** Images with more pixels are not decoded (MEDIA_THUMBNAIL_MAX_PIXELS). */
  maxPixels: number;
  /** Images whose decoding would take more memory than this, by decodeCost, are not decoded (MEDIA_THUMBNAIL_MAX_DECODE_BYTES). */
  maxDecodeBytes: number;
  /** Thumbnails made at once by one server (MEDIA_THUMBNAIL_CONCURRENCY); more wait their turn. */
  concurrency: number;
}

// libvips' operation cache would keep decoded pixels after a thumbnail is made, and each
// image would get a thread per core: both process-wide, both bounded here.
sharp.cache(false);
sharp.concurrency(2);

/** Bytes per sample of each libvips band format. */
const SAMPLE_BYTES: Record<string, number> = {
  uchar: 1,
  char: 1,
  ushort: 2,
  short: 2,
  uint: 4,
  int: 4,
  float: 4,
  complex: 8,
  double: 8,
  dpcomplex: 16,
};

/**
 * The memory decoding an image may take, from its header alone: width x height x channels
 * x bytes per sample, doubled for an interlaced PNG (or progressive JPEG), which the
 * decoder holds whole (and deinterlaces in a buffer of its own) where a plain one streams
 * through the resize row by row. Measured (docs/BENCHMARKS.md): a 4000 x 4000 16-bit RGBA
 * PNG (128 MB of pixels) took 173 MB interlaced, 60 MB not.
 */
export function decodeCost(meta: { width: number; height: number; channels?: number; depth?: string; isProgressive?: boolean }): number {
  const frame = meta.width * meta.height * (meta.channels ?? 4) * (SAMPLE_BYTES[meta.depth ?? ''] ?? 8);
  return meta.isProgressive ? 2 * frame : frame;
}

export interface ImageFacts {
  width: number;
  height: number;
  thumbnail: { body: Buffer; contentType: string; width: number; height: number } | null;
  /** Why no thumbnail: the image is past a limit (its dimensions are the header's), or the decode failed or took too long. */
  skipped?: 'too_large' | 'failed';
}

/** A thumbnail that takes longer than this is given up (a CPU bomb: a small file that inflates slowly). */
const DECODE_TIMEOUT_S = 10;

/**
 * Dimensions (as displayed: EXIF rotation applied) and a thumbnail at most
 * THUMBNAIL_MAX_PX on its longer side, in the image's own format. The header is read
 * first: an image past `limits` is not decoded at all (dimensions only, from the header).
 * Null when the file does not read as the image it claims to be.
 */
export async function inspectImage(file: string, type: string, limits: ThumbnailLimits): Promise<ImageFacts | null> {
  let meta: Metadata;
  try {
    // The header only: no pixels are decoded.
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch {
    return null;
  }
  if (!meta.width || !meta.height) return null;
  const rotated = (meta.orientation ?? 1) >= 5;
  const width = rotated ? meta.height : meta.width;
  const height = rotated ? meta.width : meta.height;
  if (width * height > limits.maxPixels || decodeCost({ ...meta, width, height }) > limits.maxDecodeBytes)
    return { width, height, thumbnail: null, skipped: 'too_large' };
  try {
    const format = type === 'image/png' ? 'png' : type === 'image/webp' ? 'webp' : 'jpeg';
    const { data, info } = await sharp(file, { limitInputPixels: limits.maxPixels, sequentialRead: true })
      .timeout({ seconds: DECODE_TIMEOUT_S })
      .rotate()
      .resize(THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX, { fit: 'inside', withoutEnlargement: true })
      .toFormat(format, format === 'png' ? { compressionLevel: 9 } : { quality: 75 })
      .toBuffer({ resolveWithObject: true });
    return { width, height, thumbnail: { body: data, contentType: type, width: info.width, height: info.height } };
  } catch {
    // The header read but the pixels did not (truncated, corrupt, too slow): a file all the same.
    return { width, height, thumbnail: null, skipped: 'failed' };
  }
}
