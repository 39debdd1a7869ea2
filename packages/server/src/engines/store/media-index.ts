import type { Thumbnail } from '@switchboard/protocol';

/*
 * The store's media part ("media" migration, and "media pending" after it): which files
 * were uploaded, by whom, what inspection found in them, and which messages carried them. The bytes live in the
 * media store (engines/media-store); this is the index both stores keep beside messages.
 * Implementations: sqlite-media.ts, postgres-media.ts; contract: media-index.contract.ts.
 */

/** What inspecting the bytes found (done once, when the media is first sent). */
export interface MediaInfo {
  /** The Content-Type served: the declared one (a verified image's bare type). Older records may hold application/octet-stream. */
  servedType: string;
  width?: number;
  height?: number;
  /** A video's length. */
  durationMs?: number;
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
  /**
   * Named by some send (or the thumbnail of media that was). Swept only when no stored
   * message carries it, long after that send (takeOrphans).
   */
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
   * Written before the append (so a sweep cannot delete what a message being stored names):
   * a reference to a message that was never stored grants nothing (Media.visible reads the
   * message). An original not yet known to be in a stored message is left pending since
   * `at` (the latest such attach): see settle and takeOrphans.
   */
  attach(mediaIds: string[], messageId: string, at: number): Promise<number>;
  /** Ids of the messages that carried the media (those never stored included). */
  messagesOf(mediaId: string): Promise<string[]>;
  /**
   * Whether a stored message carries the media in a chat `userId` is a member of, sent
   * after the user joined (seq above their joined_seq). One indexed query: it walks the
   * media's refs (at most MEDIA_MAX_REFS, Media.prepareAttachments) and probes the
   * message and the membership by primary key, whatever else the chats hold.
   */
  visibleTo(mediaId: string, userId: string): Promise<boolean>;
  /** How many sends named each of these media (refs, stored or not); media never sent are left out. */
  refCounts(mediaIds: string[]): Promise<Map<string, number>>;
  /** Bytes the user declared in uploads created at or after `since`, and when the oldest of those was. */
  usageSince(userId: string, since: number): Promise<{ bytes: number; oldest: number | null }>;
  /**
   * Up to `limit` media pending since before `before` that a stored message carries: no
   * longer pending, so they are never swept nor looked at again (messages are never
   * deleted). Answers how many. Keeps the pending media few: those attached in the last
   * orphan age, and those whose send was never stored.
   */
  settle(before: number, limit: number): Promise<number>;
  /**
   * Removes up to `limit` uploads created before `before` (their thumbnails besides, and
   * their refs) that count as never attached, and answers them, so the caller deletes
   * their bytes: those never attached, and those pending since before `before` that no
   * stored message carries. The second kind is the send whose append did not store the
   * message after its attach (the sender was no longer a member; a duplicate of an earlier
   * client_msg_id, stored under another message id; a store failure or a crash between
   * the two): it never will, since an append follows its attach within moments, and a
   * later attach moves `pending since` on. Each record is answered to one caller only,
   * however many nodes sweep at once.
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
