import { z } from 'zod';
import type { Thumbnail } from './media.js';
import { charCount, nameText, optional, storableText } from './text.js';

/*
 * PROTOCOL.md "People": profiles, finding each other, contacts and blocking.
 * Bounds are the server's choice (docs/protocol-notes.md "People").
 */

/** `about` is at most this many characters. */
export const ABOUT_MAX_CHARS = 500;
/** GET /v1/users?prefix=: the prefix is at least this many characters. */
export const USER_PREFIX_MIN = 3;
/** GET /v1/users?prefix=: limit 1..USER_SEARCH_LIMIT_MAX, default USER_SEARCH_LIMIT_DEFAULT. */
export const USER_SEARCH_LIMIT_MAX = 20;
export const USER_SEARCH_LIMIT_DEFAULT = 10;
/** The most contacts one user keeps (PUT past it: 422 too_many_contacts). */
export const CONTACTS_MAX = 5000;
/** The most users one user blocks (PUT past it: 422 too_many_blocked). */
export const BLOCKED_MAX = 5000;

export const UpdateProfileBody = z.object({
  display_name: optional(nameText().min(1).max(64)),
  // Free text, not a name: line breaks are fine; bidi controls are not refused here.
  about: optional(storableText().refine((s) => charCount(s) <= ABOUT_MAX_CHARS, `about must be at most ${ABOUT_MAX_CHARS} characters`)),
  avatar_media_id: z.union([storableText().min(1).max(128), z.null()]).optional(),
});
export type UpdateProfileBody = z.infer<typeof UpdateProfileBody>;

/** A user's avatar: the uploaded image and its thumbnail, both fetched with GET /v1/media/{id} by any signed-in user. */
export interface AvatarView {
  media_id: string;
  thumbnail: Thumbnail | null;
}
