import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { SwitchboardHttpError, withoutBidiControls, type Attachment, type EncryptedFile } from '@switchboard/client';
import type { AppState } from '../app-state.js';
import { INLINE_IMAGE } from '../e2ee/thumbnail.js';
import { fileSize } from './format.js';

/*
 * Attachments of a message: inline images and file links, on short-lived media URLs; an
 * encrypted message's files, decrypted here.
 */

function isInlineImage(a: Attachment): boolean {
  return !!a.thumbnail || /^image\/(png|jpeg|webp|gif)$/.test(a.content_type);
}

export function Attachments({ app, list }: { app: AppState; list: Attachment[] }): JSX.Element {
  return (
    <ul class="attachments">
      {list.map((a) => (
        <li key={a.media_id}>{isInlineImage(a) ? <AttachedImage app={app} a={a} /> : <AttachedFile app={app} a={a} />}</li>
      ))}
    </ul>
  );
}

/**
 * A short-lived URL for a media id, once fetched (null until then), and a refresh for it:
 * links call it on hover and focus (before a click), images when loading fails, so that a
 * page left open past the URL's expiry still opens the file.
 */
export function useMediaUrl(app: AppState, mediaId: string): [string | null, () => void] {
  const [url, setUrl] = useState<string | null>(null);
  const [live] = useState(() => ({ on: true }));
  const refresh = () =>
    void app.mediaUrl(mediaId).then(
      (u) => live.on && setUrl(u),
      () => {},
    );
  useEffect(() => {
    live.on = true;
    refresh();
    return () => {
      live.on = false;
    };
  }, [mediaId]);
  return [url, refresh];
}

function AttachedImage({ app, a }: { app: AppState; a: Attachment }): JSX.Element {
  const name = a.filename ?? 'Image';
  const thumb = a.thumbnail;
  const [src, refreshSrc] = useMediaUrl(app, thumb?.media_id ?? a.media_id);
  const [full, refreshFull] = useMediaUrl(app, a.media_id);
  const img = (
    <img
      class="thumb"
      alt={name}
      src={src ?? undefined}
      width={thumb?.width ?? a.width}
      height={thumb?.height ?? a.height}
      onError={refreshSrc}
    />
  );
  return full ? (
    <a href={full} target="_blank" rel="noopener noreferrer" class="image" onMouseEnter={refreshFull} onFocus={refreshFull}>
      {img}
    </a>
  ) : (
    img
  );
}

function AttachedFile({ app, a }: { app: AppState; a: Attachment }): JSX.Element {
  const name = a.filename ?? 'File';
  const [url, refresh] = useMediaUrl(app, a.media_id);
  return (
    <a class="file" href={url ?? undefined} download={name} rel="noopener noreferrer" onMouseEnter={refresh} onFocus={refresh}>
      <FileIcon />
      <span class="name">
        <bdi>{name}</bdi>
      </span>{' '}
      <span class="muted small">{fileSize(a.size)}</span>
    </a>
  );
}

/** Where an encrypted file's ciphertext is and what opens it (a file, or its thumbnail). */
type Sealed = Pick<EncryptedFile, 'media_id' | 'key' | 'iv' | 'sha256'>;

/** Images shown inline without a thumbnail (the sender's browser could not make one) when at most this big. */
const INLINE_WITHOUT_THUMB_MAX = 4 * 1024 * 1024;

/**
 * The files of an encrypted message (docs/e2ee.md "Files"): names, types and sizes come from
 * inside the ciphertext, never from the server; the bytes are downloaded and decrypted here
 * into Blob URLs, revoked once the message is no longer shown.
 */
export function EncryptedAttachments({ app, list }: { app: AppState; list: EncryptedFile[] }): JSX.Element {
  return (
    <ul class="attachments">
      {list.map((f) => (
        <li key={f.media_id}>{showsInline(f) ? <EncryptedImage app={app} f={f} /> : <EncryptedFileLink app={app} f={f} />}</li>
      ))}
    </ul>
  );
}

/** An own encrypted file on its way (encrypted, then uploaded, when sent): its name and size. */
export function PendingFile({ name, size }: { name: string; size: number }): JSX.Element {
  return (
    <ul class="attachments">
      <li>
        <span class="file">
          <FileIcon />
          <span class="name">
            <bdi>{name}</bdi>
          </span>{' '}
          <span class="muted small">{fileSize(size)}</span>
        </span>
      </li>
    </ul>
  );
}

/** A type a browser shows as a picture (never SVG or HTML, which would run in the app's origin when opened). */
function inlineType(type: string | undefined): type is string {
  return type !== undefined && INLINE_IMAGE.test(type);
}

function showsInline(f: EncryptedFile): boolean {
  return inlineType(f.content_type) && (inlineType(f.thumbnail?.content_type) || f.size <= INLINE_WITHOUT_THUMB_MAX);
}

/** A name from another person's device, shown and saved as text: no bidirectional controls, not too long. */
function shownName(name: string): string {
  return withoutBidiControls(name).slice(0, 255) || 'File';
}

/** A size the sender stated, used only as a layout hint. */
function dimension(n: number | undefined): number | undefined {
  return n !== undefined && Number.isInteger(n) && n > 0 && n <= 4096 ? n : undefined;
}

function fileError(err: unknown): string {
  if (err instanceof SwitchboardHttpError && err.status === 404) return 'This file is no longer on the server.';
  if (err instanceof Error && err.message.includes('SHA-256')) return 'This file was altered on the server: it cannot be opened.';
  return 'This file could not be opened.';
}

/**
 * The decrypted bytes of `part` as a Blob URL of `type`: at once when `auto`, else when
 * `open` is called (a click). The URL lives while the part is shown: revoked on unmount.
 */
function useDecrypted(
  app: AppState,
  part: Sealed | undefined,
  type: string,
  auto: boolean,
): { url: string | null; error: string | null; open: () => Promise<string> } {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const job = useRef<{ on: boolean; url?: string; running?: Promise<string> }>({ on: false });
  const open = (): Promise<string> => {
    const j = job.current;
    if (!part || !j.on) return Promise.reject(new Error('not shown'));
    j.running ??= app.openEncryptedFile(part).then(
      (bytes) => {
        const made = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
        if (!j.on) {
          URL.revokeObjectURL(made);
          throw new Error('no longer shown');
        }
        j.url = made;
        setUrl(made);
        setError(null);
        return made;
      },
      (err: unknown) => {
        j.running = undefined; // a later click tries again
        if (j.on) setError(fileError(err));
        throw err;
      },
    );
    return j.running;
  };
  useEffect(() => {
    const j: { on: boolean; url?: string; running?: Promise<string> } = { on: true };
    job.current = j;
    setUrl(null);
    setError(null);
    if (auto) void open().catch(() => {});
    return () => {
      j.on = false;
      if (j.url) URL.revokeObjectURL(j.url);
    };
  }, [part?.media_id]);
  return { url, error, open };
}

/** Saves a Blob URL under `name` (a click that came before the bytes were decrypted). */
function save(url: string, name: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  a.click();
}

/** An encrypted image: its thumbnail inline (the image itself when there is none), the image decrypted when opened. */
function EncryptedImage({ app, f }: { app: AppState; f: EncryptedFile }): JSX.Element {
  const name = shownName(f.name);
  const thumb = f.thumbnail && inlineType(f.thumbnail.content_type) ? f.thumbnail : undefined;
  const small = useDecrypted(app, thumb, thumb?.content_type ?? '', true);
  const full = useDecrypted(app, f, f.content_type, !thumb);
  const src = thumb ? small.url : full.url;
  const error = full.error ?? small.error;
  return (
    <>
      <a
        href={full.url ?? '#'}
        target="_blank"
        rel="noopener noreferrer"
        class="image"
        onClick={(e) => {
          if (full.url) return;
          e.preventDefault();
          void full.open().then(
            (u) => window.open(u, '_blank', 'noopener'),
            () => {},
          );
        }}
      >
        <img class="thumb" alt={name} src={src ?? undefined} width={dimension(thumb?.width)} height={dimension(thumb?.height)} />
      </a>
      {error && (
        <span class="error small" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

/** Any other encrypted file: a link named by the file; the bytes are fetched and decrypted on the first click. */
function EncryptedFileLink({ app, f }: { app: AppState; f: EncryptedFile }): JSX.Element {
  const name = shownName(f.name);
  // Saved, never shown in the app's origin: whatever the sender said it is.
  const blob = useDecrypted(app, f, 'application/octet-stream', false);
  return (
    <>
      <a
        class="file"
        href={blob.url ?? '#'}
        download={name}
        rel="noopener noreferrer"
        onClick={(e) => {
          if (blob.url) return;
          e.preventDefault();
          void blob.open().then(
            (u) => save(u, name),
            () => {},
          );
        }}
      >
        <FileIcon />
        <span class="name">
          <bdi>{name}</bdi>
        </span>{' '}
        <span class="muted small">{fileSize(f.size)}</span>
      </a>
      {blob.error && (
        <span class="error small" role="alert">
          {blob.error}
        </span>
      )}
    </>
  );
}

function FileIcon(): JSX.Element {
  return (
    <svg aria-hidden="true" viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2">
      <path d="M14 3H6v18h12V7z M14 3v4h4" />
    </svg>
  );
}
