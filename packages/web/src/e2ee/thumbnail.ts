/*
 * The thumbnail a sender makes of an image it sends to an encrypted chat (docs/e2ee.md
 * "Files": the server cannot make one, it never sees the image): drawn smaller on a canvas,
 * JPEG for photos, PNG for the rest (it keeps transparency). Encrypted like the file itself.
 */

/** The longest side of a thumbnail, in pixels (the conversation shows images at most 320 wide). */
const THUMB_MAX = 320;

/** Image types a browser decodes and that are shown inline; anything else travels as a plain file. */
export const INLINE_IMAGE = /^image\/(png|jpeg|webp|gif)$/;

export interface Thumbnail {
  bytes: Uint8Array;
  contentType: string;
  width: number;
  height: number;
}

/** A thumbnail of `file` when it is an image this browser can decode; undefined otherwise (the file goes without one). */
export async function makeThumbnail(file: Blob, contentType: string): Promise<Thumbnail | undefined> {
  if (!INLINE_IMAGE.test(contentType) || typeof createImageBitmap !== 'function') return undefined;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return undefined; // not an image after all, or one this browser cannot read
  }
  try {
    const scale = Math.min(1, THUMB_MAX / Math.max(bitmap.width, bitmap.height, 1));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    if (!ctx) return undefined;
    ctx.drawImage(bitmap, 0, 0, width, height);
    const type = contentType === 'image/jpeg' ? 'image/jpeg' : 'image/png';
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, type, 0.8));
    if (!blob) return undefined;
    return { bytes: new Uint8Array(await blob.arrayBuffer()), contentType: type, width, height };
  } finally {
    bitmap.close();
  }
}
