import type { JSX } from 'preact';
import type { AppState } from '../app-state.js';
import { useMediaUrl } from './attachments.js';
import { initial } from './format.js';

/*
 * A user's avatar (its thumbnail, PROTOCOL.md "People"), or the first letter of the name when
 * there is none (or for a group). Decorative: the name is always written next to it.
 */
export function Avatar({ app, userId, name, small }: { app: AppState; userId: string | null; name: string; small?: boolean }): JSX.Element {
  const avatar = userId ? app.users.get(userId)?.avatar : null;
  const mediaId = avatar ? (avatar.thumbnail?.media_id ?? avatar.media_id) : null;
  const cls = `avatar ${small ? 'small' : ''}`;
  return mediaId ? (
    <AvatarImage key={mediaId} app={app} mediaId={mediaId} cls={cls} />
  ) : (
    <span class={cls} aria-hidden="true">
      {initial(name)}
    </span>
  );
}

function AvatarImage({ app, mediaId, cls }: { app: AppState; mediaId: string; cls: string }): JSX.Element {
  const [src, refresh] = useMediaUrl(app, mediaId);
  return src ? (
    <img class={`${cls} photo`} src={src} alt="" aria-hidden="true" onError={refresh} />
  ) : (
    <span class={cls} aria-hidden="true" />
  );
}
