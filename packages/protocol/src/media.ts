import { z } from 'zod';
import { nameText, optional, storableText } from './text.js';

/*
 * Media (PROTOCOL.md "Media"): files travel beside messages. The client asks for an
 * upload (POST /v1/media), sends the bytes to the upload URL, then names the media in a
 * send_message's `attachments`.
 */

/** At most this many attachments per message. */
export const MAX_ATTACHMENTS = 10;
/** A thumbnail's longer side, in pixels. */
export const THUMBNAIL_MAX_PX = 320;
/** Image types the server measures and thumbnails. */
export const THUMBNAIL_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

const contentType = storableText()
  .min(1)
  .max(255)
  .regex(/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/, 'content_type must be a MIME type like image/png');

export const CreateMediaBody = z.object({
  content_type: contentType,
  // Any size is accepted here; past the server's limit it answers 413 too_large. Not .int():
  // that also refuses integers past 2^53 (400), where the protocol's answer is 413.
  size: z
    .number()
    .min(0)
    .refine((n) => Number.isInteger(n), 'size must be an integer'),
  filename: optional(nameText().min(1).max(255)),
});
export type CreateMediaBody = z.infer<typeof CreateMediaBody>;

export interface CreateMediaResponse {
  media_id: string;
  upload_url: string;
  upload_method: string;
  upload_headers: Record<string, string>;
  expires_at: number;
}

export interface Thumbnail {
  media_id: string;
  content_type: string;
  width: number;
  height: number;
}

/** One attachment of a message, as new_message frames and history carry it. */
export interface Attachment {
  media_id: string;
  content_type: string;
  size: number;
  filename: string | null;
  width?: number;
  height?: number;
  /** Videos (when the server has ffprobe): their length. */
  duration_ms?: number;
  thumbnail?: Thumbnail;
}

/** `send_message.attachments`: how many is checked by the server (invalid_attachment), not here. */
export const AttachmentRefs = z.array(z.object({ media_id: storableText().min(1).max(128) })).max(1000);
