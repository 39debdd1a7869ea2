import {
  MAX_ATTACHMENTS,
  THUMBNAIL_TYPES,
  type Attachment,
  type AvatarView,
  type CreateMediaBody,
  type CreateMediaResponse,
  type Thumbnail,
} from '@switchboard/protocol';
import type { MediaStore } from '../engines/media-store/media-store.js';
import type { MediaInfo, MediaRecord } from '../engines/store/media-index.js';
import type { Store } from '../engines/store/store.js';
import type { Logger } from '../util/logger.js';
import type { Snowflake } from '../util/snowflake.js';
import { DomainError } from './errors.js';
import { inspectImage, isVerifiedImage, servedType, type ThumbnailLimits } from './media-inspect.js';
import { inspectPdf, inspectVideo, previewKind, type PreviewFacts } from './media-previews.js';
import type { MediaTools } from './media-tools.js';
import { baseType, isInline, normalizeType, safeType } from './media-types.js';
import { WorkQueue } from './work-queue.js';

export interface MediaConfig {
  /** Largest upload accepted (bytes); past it POST /v1/media answers 413 too_large. */
  maxBytes: number;
  /** Bytes a user may declare in uploads per 24 hours; 0: no limit. */
  dailyQuotaBytes: number;
  /** How long an upload URL works (ms). */
  uploadTtlMs: number;
  /** How long a download URL (a redirect's target) works (ms). */
  downloadTtlMs: number;
  /** Uploads never attached are deleted once this old (ms). */
  orphanAgeMs: number;
  /** How often the sweeper looks for them (ms). */
  sweepIntervalMs: number;
  /** How many sends may name one media (refs, counted per send); past it the attachment is refused. */
  maxRefs: number;
  /** What an image may cost to thumbnail; past it the image is sent without a thumbnail (media-inspect.ts). */
  thumbnails: ThumbnailLimits;
}

export interface MediaDeps {
  store: Store;
  files: MediaStore;
  ids: Snowflake;
  now: () => number;
  log: Logger;
  config: MediaConfig;
  /** ffprobe/ffmpeg and pdftoppm where found (media-tools.ts): videos and PDFs get previews only with them. */
  tools: MediaTools;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Images (videos, PDFs) waiting for a thumbnail past which one more is sent without (and may get one when sent again). */
const THUMBNAILS_WAITING = 32;
/** What the attachments of an encrypted send are uploaded and served as: bytes the server cannot read. */
const OPAQUE_TYPE = 'application/octet-stream';
/** Orphans deleted per sweep round. */
const SWEEP_BATCH = 500;

/** How a fetch of a media is answered: a redirect to a short-lived URL, or the bytes from here. */
export type MediaFetch = { redirect: string } | { key: string; size: number; contentType: string; disposition: string };

/**
 * The media rules (PROTOCOL.md "Media"): who may upload what, what a message may
 * attach, who may fetch what, and the cleanup of uploads never sent.
 */
export class Media {
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<number> | null = null;
  /** Thumbnails made one (or a few) at a time per server: each may hold a decoded image of up to maxDecodeBytes. */
  private readonly thumbnails: WorkQueue;

  constructor(private readonly deps: MediaDeps) {
    this.thumbnails = new WorkQueue(deps.config.thumbnails.concurrency, THUMBNAILS_WAITING);
  }

  get files(): MediaStore {
    return this.deps.files;
  }

  /** POST /v1/media: records the upload and hands out where to send the bytes. */
  async createUpload(userId: string, body: CreateMediaBody, baseUrl: string): Promise<CreateMediaResponse> {
    const { config, now } = this.deps;
    const type = normalizeType(body.content_type);
    if (!type)
      throw new DomainError('invalid_request', 'content_type must be a MIME type like image/png (type/subtype, optional parameters)');
    if (body.size > config.maxBytes) throw new DomainError('too_large', `media is limited to ${config.maxBytes} bytes`);
    const at = now();
    if (config.dailyQuotaBytes > 0) {
      const usage = await this.deps.store.media.usageSince(userId, at - DAY_MS);
      if (usage.bytes + body.size > config.dailyQuotaBytes) {
        // The window frees up as the oldest upload in it turns a day old.
        const retryAfterMs = Math.max(1000, (usage.oldest ?? at) + DAY_MS - at);
        throw new DomainError('rate_limited', `daily upload quota of ${config.dailyQuotaBytes} bytes reached`, {
          retry_after_ms: retryAfterMs,
        });
      }
    }
    const id = this.deps.ids.next();
    await this.deps.store.media.create({
      id,
      ownerId: userId,
      contentType: type,
      size: body.size,
      filename: body.filename ?? null,
      createdAt: at,
      parentId: null,
      attached: false,
      info: null,
    });
    const expiresAt = at + config.uploadTtlMs;
    const target = await this.deps.files.uploadTarget(id, { contentType: type, size: body.size, expiresAt, baseUrl });
    return { media_id: id, upload_url: target.url, upload_method: target.method, upload_headers: target.headers, expires_at: expiresAt };
  }

  /**
   * A send's attachments: each uploaded by the sender and complete at its declared size,
   * at most MAX_ATTACHMENTS; images measured and thumbnailed (once per media). Records
   * that `messageId` carries them before the message is appended. Anything wrong:
   * invalid_attachment, and nothing is stored.
   *
   * `opaque` (an encrypted send, docs/e2ee.md): client-encrypted bytes, which the server
   * must never read. Each must be an application/octet-stream upload without a filename;
   * it is neither inspected nor thumbnailed, and is served as application/octet-stream.
   */
  async prepareAttachments(
    senderId: string,
    refs: { media_id: string }[],
    messageId: string,
    opts: { opaque?: boolean } = {},
  ): Promise<Attachment[]> {
    const refuse = (why: string) => new DomainError('invalid_attachment', why);
    if (refs.length > MAX_ATTACHMENTS) throw refuse(`at most ${MAX_ATTACHMENTS} attachments per message`);
    const ids = refs.map((r) => r.media_id);
    if (new Set(ids).size !== ids.length) throw refuse('an attachment is named twice');
    const found = new Map((await this.deps.store.media.get(ids)).map((m) => [m.id, m]));
    const records: MediaRecord[] = [];
    for (const id of ids) {
      const m = found.get(id);
      // Someone else's media looks exactly like one that does not exist.
      if (!m || m.ownerId !== senderId || m.parentId !== null) throw refuse(`no media ${id} uploaded by you`);
      if (opts.opaque && baseType(m.contentType) !== OPAQUE_TYPE)
        throw refuse(`media ${id}: an encrypted message's attachments are uploaded as ${OPAQUE_TYPE} (the client encrypts them)`);
      if (opts.opaque && m.filename !== null)
        throw refuse(`media ${id}: an encrypted message's attachments carry no filename (it travels inside the ciphertext)`);
      records.push(m);
    }
    const sizes = await Promise.all(records.map((m) => this.deps.files.stat(m.id)));
    for (const [i, m] of records.entries()) {
      if (sizes[i] === null) throw refuse(`media ${m.id}: the upload is not complete`);
      if (sizes[i] !== m.size) {
        // A store that does not enforce the signed length (see README) kept a wrong upload: drop it, the client may upload again.
        await this.deps.files.delete([m.id]).catch(() => {});
        throw refuse(`media ${m.id}: uploaded ${sizes[i]} bytes, declared ${m.size}`);
      }
    }
    // Bounded so that checking who may fetch a media stays cheap (Media.visible walks its refs).
    for (const [id, n] of await this.deps.store.media.refCounts(ids))
      if (n >= this.deps.config.maxRefs)
        throw refuse(`media ${id} was already sent in ${this.deps.config.maxRefs} messages, the most one media may be: upload it again`);
    // Opaque bytes are not read at all: no magic number, no thumbnail. Their info is kept
    // so that a fetch does not sniff them either (servedTypeOf).
    const opaque: MediaInfo = { servedType: OPAQUE_TYPE };
    const infos = opts.opaque
      ? await Promise.all(records.map(async (m) => (m.info ? opaque : this.keepInfo(m, opaque))))
      : await Promise.all(records.map((m) => this.infoOf(m)));
    // Attached before the append, so a sweep cannot take what the message will name. When the
    // append then stores no message `messageId` (not a member any more, a duplicate of an
    // earlier client_msg_id, a failure, a crash), the media stays pending and the sweeper
    // counts it never attached once no stored message carries it (MediaIndex.takeOrphans).
    // Not undone here: a crash between attach and append would leave the same state, and the
    // sweep rule covers every case, a repeated send of the same media included.
    if ((await this.deps.store.media.attach(ids, messageId, this.deps.now())) !== ids.length) throw refuse('an attachment was deleted');
    return records.map((m, i) => attachmentView(m, infos[i]!));
  }

  /**
   * PATCH /v1/users/me avatar_media_id: an image (image/jpeg, png or webp whose bytes are
   * one) the user uploaded, complete. Measured and thumbnailed as a sent image is (once per
   * media); thumbnail null when the thumbnail queue was full or the image past its limits.
   */
  async avatar(userId: string, mediaId: string): Promise<AvatarView> {
    const refuse = (why: string) => new DomainError('invalid_request', `avatar_media_id: ${why}`);
    const [m] = await this.deps.store.media.get([mediaId]);
    if (!m || m.ownerId !== userId || m.parentId !== null) throw refuse(`no media ${mediaId} uploaded by you`);
    if ((await this.deps.files.stat(m.id)) !== m.size) throw refuse('the upload is not complete');
    if (
      !(THUMBNAIL_TYPES as readonly string[]).includes(normalizeType(m.contentType) ?? '') ||
      !isVerifiedImage(m.contentType, await this.head(m))
    )
      throw refuse('an avatar is an image/jpeg, image/png or image/webp');
    const info = await this.infoOf(m);
    return { media_id: m.id, thumbnail: info.thumbnail ?? null };
  }

  /**
   * What the bytes are: inspected on first send and kept. An image (a video, a PDF, when
   * their tools are there) is measured and thumbnailed best-effort, through the thumbnail
   * queue: one past the limits gets its header's dimensions and no thumbnail, and when the
   * queue is full it is sent without either (not kept, so a later send tries again). Either
   * way the send goes through.
   */
  private async infoOf(m: MediaRecord): Promise<MediaInfo> {
    if (m.info) return m.info;
    const head = await this.head(m);
    const served = servedType(m.contentType, head);
    // Only an image that is what it claims (or a video or PDF with its tool) is read whole
    // (a remote store copies it to a temp file for sharp and the tools).
    const limits = this.deps.config.thumbnails;
    const kind = isVerifiedImage(m.contentType, head) ? 'image' : previewKind(m.contentType, head, this.deps.tools);
    if (!kind) return this.keepInfo(m, { servedType: served });
    const inspect = (file: string): Promise<PreviewFacts | null> =>
      kind === 'image'
        ? inspectImage(file, served, limits)
        : kind === 'video'
          ? inspectVideo(file, this.deps.tools, limits.maxPixels)
          : inspectPdf(file, this.deps.tools);
    const measured = this.thumbnails.tryRun(() =>
      this.deps.files.withFile(m.id, async (file) => this.measure(m, await inspect(file), served)),
    );
    if (!measured) {
      this.deps.log.warn({ mediaId: m.id, kind }, 'thumbnail queue full: sent without a thumbnail');
      return { servedType: served };
    }
    let info: MediaInfo;
    try {
      info = await measured;
    } catch (err) {
      // The store failed to copy the bytes or keep the thumbnail: the file goes without, as when the queue is full.
      this.deps.log.warn({ err, mediaId: m.id }, 'thumbnail failed: image sent without a thumbnail');
      return { servedType: served };
    }
    return this.keepInfo(m, info);
  }

  private async keepInfo(m: MediaRecord, info: MediaInfo): Promise<MediaInfo> {
    await this.deps.store.media.setInfo(m.id, info);
    return info;
  }

  /** What inspecting the file found, its thumbnail stored as a media of its own. */
  private async measure(m: MediaRecord, facts: PreviewFacts | null, served: string): Promise<MediaInfo> {
    if (!facts) return { servedType: served };
    if (facts.skipped)
      this.deps.log.info({ mediaId: m.id, width: facts.width, height: facts.height, why: facts.skipped }, 'sent without a thumbnail');
    let thumbnail: Thumbnail | undefined;
    if (facts.thumbnail) {
      const t = facts.thumbnail;
      const thumbId = this.deps.ids.next();
      await this.deps.files.put(thumbId, t.body, t.contentType);
      await this.deps.store.media.create({
        id: thumbId,
        ownerId: m.ownerId,
        contentType: t.contentType,
        size: t.body.length,
        filename: null,
        createdAt: this.deps.now(),
        parentId: m.id,
        attached: false,
        info: { servedType: t.contentType, width: t.width, height: t.height },
      });
      thumbnail = { media_id: thumbId, content_type: t.contentType, width: t.width, height: t.height };
    }
    return {
      servedType: served,
      ...(facts.width !== undefined && facts.height !== undefined ? { width: facts.width, height: facts.height } : {}),
      ...(facts.durationMs !== undefined ? { durationMs: facts.durationMs } : {}),
      ...(thumbnail ? { thumbnail } : {}),
    };
  }

  /** The first bytes of a media (its magic number), read as a range: never the whole object. */
  private async head(m: MediaRecord): Promise<Buffer> {
    if (m.size === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.deps.files.read(m.id, { start: 0, end: Math.min(m.size, 16) - 1 })) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** The Content-Type a media is served with (safeType: a record stored before types were checked may hold anything). */
  private async servedTypeOf(m: MediaRecord): Promise<string> {
    return safeType(m.info?.servedType ?? servedType(m.contentType, await this.head(m)));
  }

  /**
   * The media if `userId` may fetch it: its uploader, or a member of a chat where a
   * message carried it, from that message on (a member who joined later does not see
   * it). Thumbnails follow their original. Null otherwise: the caller answers 404.
   */
  async visible(userId: string, mediaId: string): Promise<MediaRecord | null> {
    const [m] = await this.deps.store.media.get([mediaId]);
    if (!m) return null;
    const original = m.parentId ? (await this.deps.store.media.get([m.parentId]))[0] : m;
    if (!original) return null;
    if (original.ownerId === userId) return m;
    // One indexed query, however many messages carry the media (at most maxRefs).
    if (await this.deps.store.media.visibleTo(original.id, userId)) return m;
    // Some user's current avatar (and its thumbnail): any signed-in user may fetch it (PROTOCOL.md "People").
    return (await this.deps.store.people.isAvatar(original.id)) ? m : null;
  }

  /** GET /v1/media/{id}: null when the caller may not see it or its bytes are not there (404). */
  async fetch(userId: string, mediaId: string, baseUrl: string): Promise<MediaFetch | null> {
    const m = await this.visible(userId, mediaId);
    if (!m) return null;
    const size = await this.deps.files.stat(m.id);
    // Only a whole upload of the declared size exists (a store that does not enforce the signed length may hold another).
    if (size !== m.size) return null;
    const contentType = await this.servedTypeOf(m);
    const disposition = dispositionFor(contentType, m.filename);
    if (!this.deps.files.redirects) return { key: m.id, size, contentType, disposition };
    const expiresAt = this.deps.now() + this.deps.config.downloadTtlMs;
    return { redirect: await this.deps.files.downloadUrl(m.id, { contentType, disposition, expiresAt, baseUrl }) };
  }

  /** A short-lived URL serving the media (for clients that cannot send a token, such as an <img>). */
  async link(userId: string, mediaId: string, baseUrl: string): Promise<{ url: string; expires_at: number } | null> {
    const m = await this.visible(userId, mediaId);
    if (!m || (await this.deps.files.stat(m.id)) !== m.size) return null;
    const contentType = await this.servedTypeOf(m);
    const expiresAt = this.deps.now() + this.deps.config.downloadTtlMs;
    const url = await this.deps.files.downloadUrl(m.id, {
      contentType,
      disposition: dispositionFor(contentType, m.filename),
      expiresAt,
      baseUrl,
    });
    return { url, expires_at: expiresAt };
  }

  /**
   * Deletes uploads never attached once older than orphanAgeMs (their bytes too), and
   * those only named by sends that stored no message, once orphanAgeMs past that send
   * (MediaIndex.takeOrphans). Settles first the media a stored message carries, so the
   * pending ones stay few. Safe on every node at once: the store hands each record to one
   * sweeper only.
   */
  sweep(): Promise<number> {
    this.sweeping ??= (async () => {
      let total = 0;
      try {
        while ((await this.deps.store.media.settle(this.deps.now() - this.deps.config.orphanAgeMs, SWEEP_BATCH)) === SWEEP_BATCH);
        for (;;) {
          const taken = await this.deps.store.media.takeOrphans(this.deps.now() - this.deps.config.orphanAgeMs, SWEEP_BATCH);
          if (taken.length === 0) break;
          await this.deps.files.delete(taken.map((m) => m.id));
          total += taken.length;
        }
        if (total > 0) this.deps.log.info({ deleted: total }, 'media sweep: deleted uploads never sent');
        return total;
      } finally {
        this.sweeping = null;
      }
    })();
    return this.sweeping;
  }

  start(): void {
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.deps.log.warn({ err }, 'media sweep failed'));
    }, this.deps.config.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => {});
    await this.deps.files.close();
  }
}

function attachmentView(m: MediaRecord, info: MediaInfo): Attachment {
  return {
    media_id: m.id,
    content_type: info.servedType,
    size: m.size,
    filename: m.filename,
    ...(info.width !== undefined && info.height !== undefined ? { width: info.width, height: info.height } : {}),
    ...(info.durationMs !== undefined ? { duration_ms: info.durationMs } : {}),
    ...(info.thumbnail ? { thumbnail: info.thumbnail } : {}),
  };
}

/** Inline only for types a browser shows without running anything; a download for everything else (html, svg, js, xml...). */
export function dispositionFor(contentType: string, filename: string | null): string {
  const kind = isInline(contentType) ? 'inline' : 'attachment';
  const encoded = encodeURIComponent(filename ?? '').replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return filename ? `${kind}; filename*=UTF-8''${encoded}` : kind;
}
