import sharp from 'sharp';
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

/** Images larger than this many pixels are measured but not decoded (a decompression bomb costs no memory). */
export const MAX_THUMBNAIL_INPUT_PIXELS = 50_000_000;

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

export interface ImageFacts {
  width: number;
  height: number;
  thumbnail: { body: Buffer; contentType: string; width: number; height: number } | null;
}

/**
 * Dimensions (as displayed: EXIF rotation applied) and a thumbnail at most
 * THUMBNAIL_MAX_PX on its longer side, in the image's own format. Null when the file does
 * not decode as the image it claims to be.
 */
export async function inspectImage(file: string, type: string): Promise<ImageFacts | null> {
  try {
    const meta = await sharp(file, { limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) return null;
    const rotated = (meta.orientation ?? 1) >= 5;
    const width = rotated ? meta.height : meta.width;
    const height = rotated ? meta.width : meta.height;
    if (width * height > MAX_THUMBNAIL_INPUT_PIXELS) return { width, height, thumbnail: null };
    const format = type === 'image/png' ? 'png' : type === 'image/webp' ? 'webp' : 'jpeg';
    const { data, info } = await sharp(file, { limitInputPixels: MAX_THUMBNAIL_INPUT_PIXELS })
      .rotate()
      .resize(THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX, { fit: 'inside', withoutEnlargement: true })
      .toFormat(format, format === 'png' ? { compressionLevel: 9 } : { quality: 75 })
      .toBuffer({ resolveWithObject: true });
    return { width, height, thumbnail: { body: data, contentType: type, width: info.width, height: info.height } };
  } catch {
    return null;
  }
}
