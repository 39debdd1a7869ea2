import type { Thumbnail } from '@switchboard/protocol';

/*
 * The store's media part ("media" migration): which files were uploaded, by whom, what
 * inspection found in them, and which messages carried them. The bytes live in the
 * media store (engines/media-store); this is the index both stores keep beside messages.
 * Implementations: sqlite-media.ts, postgres-media.ts; contract: media-index.contract.ts.
 */

/** What inspecting the bytes found (done once, when the media is first sent). */
export interface MediaInfo {
  /** The Content-Type served: the declared one (a verified image's bare type). Older records may hold application/octet-stream. */
  servedType: string;
  width?: number;
  height?: number;
  thumbnail?: Thumbnail;
}

export interface MediaRecord {
  id: string;
  ownerId: string;
  /** The type the uploader declared. */
  contentType: string;
  /** Declared size in bytes: the upload must be exactly this long. */
  size: number;
  filename: string | null;
  createdAt: number;
  /** A thumbnail's original (access follows the original's); null for uploads. */
  parentId: string | null;
  /** Sent in some message (or the thumbnail of one that was): never swept. */
  attached: boolean;
  /** Null until inspected. */
  info: MediaInfo | null;
}

export interface MediaIndex {
  create(media: MediaRecord): Promise<void>;
  /** The records among these ids that exist (any order). */
  get(ids: string[]): Promise<MediaRecord[]>;
  setInfo(id: string, info: MediaInfo): Promise<void>;
  /**
   * Records that message `messageId` carries these media and marks them (and their
   * thumbnails) attached, in one transaction. Answers how many of them still existed:
   * a sweep that took one first makes it fewer than asked, and the send is refused.
   * Written before the append: a reference to a message that was never stored grants nothing.
   */
  attach(mediaIds: string[], messageId: string): Promise<number>;
  /** Ids of the messages that carried the media (those never stored included). */
  messagesOf(mediaId: string): Promise<string[]>;
  /** Bytes the user declared in uploads created at or after `since`, and when the oldest of those was. */
  usageSince(userId: string, since: number): Promise<{ bytes: number; oldest: number | null }>;
  /**
   * Removes up to `limit` records never attached and created before `before` (their
   * thumbnails included) and answers them, so the caller deletes their bytes. Each
   * record is answered to one caller only, however many nodes sweep at once.
   */
  takeOrphans(before: number, limit: number): Promise<MediaRecord[]>;
}

/** The columns both stores name alike, and their mapping. */
export interface MediaRow {
  id: string;
  owner_id: string;
  content_type: string;
  size: number;
  filename: string | null;
  created_at: number;
  parent_id: string | null;
  attached: number | boolean;
  info: string | null;
}

export function toMediaRecord(r: MediaRow): MediaRecord {
  return {
    id: r.id,
    ownerId: r.owner_id,
    contentType: r.content_type,
    size: Number(r.size),
    filename: r.filename,
    createdAt: Number(r.created_at),
    parentId: r.parent_id,
    attached: r.attached === true || r.attached === 1,
    info: r.info === null ? null : (JSON.parse(r.info) as MediaInfo),
  };
}
