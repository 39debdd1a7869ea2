import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Attachment } from '@switchboard/client';
import type { AppState } from '../app-state.js';
import { fileSize } from './format.js';

/* Attachments of a message: inline images and file links, on short-lived media URLs. */

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
      <svg aria-hidden="true" viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2">
        <path d="M14 3H6v18h12V7z M14 3v4h4" />
      </svg>
      <span class="name">
        <bdi>{name}</bdi>
      </span>{' '}
      <span class="muted small">{fileSize(a.size)}</span>
    </a>
  );
}
