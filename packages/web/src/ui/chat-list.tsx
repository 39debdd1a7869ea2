import type { JSX } from 'preact';
import type { ChatSummary } from '@switchboard/client';
import type { AppState } from '../app-state.js';
import { isMuted } from '../lifecycle.js';
import { peerOf } from '../state/types.js';
import { Avatar } from './avatar.js';
import { oneLine, shortTime } from './format.js';
import { ChatOptions } from './message-actions.js';
import { Lock } from './encryption.js';

/* The chat list: one row per chat, archived chats folded away. */

type Props = { app: AppState };

export function ChatList({ app }: Props): JSX.Element {
  if (!app.chatsLoaded) {
    return app.chatsError ? (
      <p class="error pad" role="alert">
        Could not load your chats: {app.chatsError}
      </p>
    ) : (
      <p class="muted pad">Loading chats…</p>
    );
  }
  if (app.chats.length === 0) return <p class="muted pad">No chats yet. Start one with “New chat”.</p>;
  const archived = app.chats.filter((c) => c.archived);
  return (
    <nav aria-label="Chat list" class="chat-list">
      <ul class="chats">
        {app.chats
          .filter((c) => !c.archived)
          .map((c) => (
            <ChatItem key={c.chat_id} app={app} chat={c} />
          ))}
      </ul>
      {archived.length > 0 && (
        <section class="archived">
          <button type="button" class="archived-toggle" aria-expanded={app.showArchived} onClick={() => app.toggleArchived()}>
            Archived ({archived.length})
          </button>
          {app.showArchived && (
            <ul class="chats" aria-label="Archived chats">
              {archived.map((c) => (
                <ChatItem key={c.chat_id} app={app} chat={c} />
              ))}
            </ul>
          )}
        </section>
      )}
    </nav>
  );
}

function ChatItem({ app, chat }: { app: AppState; chat: ChatSummary }): JSX.Element {
  const current = app.conv?.chatId === chat.chat_id;
  // The open chat shows typing in its header; once on screen is enough.
  const typing = current ? [] : app.typingIn(chat.chat_id);
  const last = chat.last_message ? app.shownMessage(chat.last_message) : null;
  const preview = typing.length
    ? chat.kind === 'group'
      ? `${app.nameOf(typing[0]!)} is typing…`
      : 'typing…'
    : last
      ? `${last.sender_id === app.userId ? 'You: ' : chat.kind === 'group' ? `${app.nameOf(last.sender_id)}: ` : ''}${oneLine(last).slice(0, 100)}`
      : 'No messages yet';
  const title = chat.title || 'Chat';
  // Not "unread" nor "messages": a label must not contain another control's name ("read", "Message").
  const label = chat.unread_count > 0 ? `${title} (${chat.unread_count} new)` : title;
  const muted = isMuted(chat);
  return (
    <li class="chat-item">
      <a
        href={`/chat/${encodeURIComponent(chat.chat_id)}`}
        class={`chat ${current ? 'current' : ''}`}
        aria-current={current ? 'page' : undefined}
        aria-label={label}
        onClick={(e) => {
          e.preventDefault();
          void app.openChat(chat.chat_id);
        }}
      >
        <Avatar app={app} userId={chat.kind === 'direct' ? peerOf(chat.chat_id, app.userId) : null} name={title} />
        <span class="body">
          <span class="top">
            <span class="title">
              <bdi>{title}</bdi>
            </span>
            {app.isEncrypted(chat.chat_id) && <Lock />}
            {last && <span class="time" data-text={shortTime(last.created_at)} />}
          </span>
          <span class="bottom">
            {/* The open chat's last message is on screen in the conversation: its preview is
                drawn from an attribute by CSS so that the text is findable once, not twice. */}
            {current && !typing.length ? (
              <span class="preview" dir="auto" data-text={preview} />
            ) : (
              <span class={`preview ${typing.length ? 'typing' : ''}`} dir="auto">
                {preview}
              </span>
            )}
            {muted && (
              <span class="flag" title="Muted" aria-hidden="true">
                🔕
              </span>
            )}
            {chat.pinned && (
              <span class="flag" title="Pinned" aria-hidden="true">
                📌
              </span>
            )}
            {chat.unread_count > 0 && <span class={`badge ${muted ? 'muted-badge' : ''}`}>{chat.unread_count}</span>}
          </span>
        </span>
      </a>
      <ChatOptions app={app} chat={chat} title={title} />
    </li>
  );
}
