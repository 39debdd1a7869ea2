import { Component, createRef, type JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { withoutBidiControls, type Attachment, type ChatSummary, type Message } from '@switchboard/client';
import type { AppState, Conversation, Msg, Status } from './app-state.js';
import { ChatOptions, ComposeContext, MessageActions, MessageInfoView, Quote, Reactions } from './message-actions.js';
import { isMuted, mentionCandidates, mentionQuery, mentionsIn, type Member } from './lifecycle.js';

/*
 * The views. User content is only ever rendered as text nodes (JSX children and
 * attributes), never as HTML. Accessible names are part of the contract: tests find the
 * controls by role and label ("Username", "Password", "Log in", "Message", "Send", …).
 */

type Props = { app: AppState };

export function Root({ app }: Props): JSX.Element {
  if (app.phase === 'boot') return <div class="splash" aria-busy="true" />;
  if (app.phase === 'auth') return <Login app={app} />;
  return (
    <div class={`shell ${app.conv ? 'has-conv' : ''}`}>
      <Sidebar app={app} />
      <main class="main">{app.conv ? <ConversationView app={app} conv={app.conv} /> : <Welcome app={app} />}</main>
    </div>
  );
}

function Login({ app }: Props): JSX.Element {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const submit = (create: boolean) => (e: Event) => {
    e.preventDefault();
    void (create ? app.register(username, password) : app.login(username, password));
  };
  return (
    <div class="login-page">
      <form class="login card" onSubmit={submit(false)} aria-labelledby="login-title">
        <h1 id="login-title">Switchboard</h1>
        <p class="muted">Log in, or create an account on this server.</p>
        <label>
          Username
          <input
            name="username"
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            required
          />
        </label>
        {app.authError && (
          <p class="error" role="alert">
            {app.authError}
          </p>
        )}
        <div class="row">
          <button type="submit" class="primary" disabled={app.authBusy}>
            Log in
          </button>
          <button type="button" disabled={app.authBusy} onClick={submit(true)}>
            Create account
          </button>
        </div>
        <p class="hint muted">Usernames: 3 to 32 of a–z, 0–9, _ and . — passwords: at least 8 characters.</p>
      </form>
    </div>
  );
}

function ConnBanner({ app }: Props): JSX.Element | null {
  if (app.conn === 'online') return null;
  const text = app.conn === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <div class="conn-banner" role="status">
      {text}
    </div>
  );
}

function Sidebar({ app }: Props): JSX.Element {
  return (
    <aside class="sidebar" aria-label="Chats">
      <header class="bar side-bar">
        <div class="who-am-i">
          <span class="avatar small" aria-hidden="true">
            {initial(app.me?.display_name ?? '')}
          </span>
          <span class="me" title={app.me?.username}>
            <bdi>{app.me?.display_name ?? ''}</bdi>
          </span>
          <button type="button" onClick={() => void app.logout()}>
            Log out
          </button>
        </div>
        <div class="actions">
          <button type="button" aria-expanded={app.panel === 'new-chat'} onClick={() => app.openPanel('new-chat')}>
            New chat
          </button>
          <button type="button" aria-expanded={app.panel === 'new-group'} onClick={() => app.openPanel('new-group')}>
            New group
          </button>
          <PushButton app={app} />
        </div>
      </header>
      <ConnBanner app={app} />
      {app.notice && (
        <div class="notice" role="alert">
          {app.notice}{' '}
          <button type="button" class="link" onClick={() => app.dismissNotice()}>
            Dismiss
          </button>
        </div>
      )}
      {app.panel === 'new-chat' && <NewChat app={app} />}
      {app.panel === 'new-group' && <NewGroup app={app} />}
      <SearchBox app={app} />
      {app.searchResults || app.searchError ? <SearchResults app={app} /> : <ChatList app={app} />}
    </aside>
  );
}

/** Browser notifications opt-in; disabled, with the reason as its description, where the browser cannot. */
function PushButton({ app }: Props): JSX.Element {
  if (app.push === 'unsupported')
    return (
      <button type="button" disabled aria-describedby="push-why" title={app.pushUnsupported ?? ''}>
        Enable notifications
        <span id="push-why" class="visually-hidden">
          {app.pushUnsupported}
        </span>
      </button>
    );
  return (
    <button type="button" disabled={app.push === 'busy'} onClick={() => void app.togglePush()}>
      {app.push === 'on' ? 'Disable notifications' : 'Enable notifications'}
    </button>
  );
}

function NewChat({ app }: Props): JSX.Element {
  const [username, setUsername] = useState('');
  return (
    <form
      class="panel"
      aria-label="New chat"
      onSubmit={(e) => {
        e.preventDefault();
        void app.startChat(username);
      }}
    >
      <label>
        Username
        <input autocapitalize="none" spellcheck={false} value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
      </label>
      <PanelError app={app} />
      <button type="submit" class="primary" disabled={app.panelBusy}>
        Start chat
      </button>
    </form>
  );
}

function NewGroup({ app }: Props): JSX.Element {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  return (
    <form
      class="panel"
      aria-label="New group"
      onSubmit={(e) => {
        e.preventDefault();
        void app.createGroup(name, members);
      }}
    >
      <label>
        Group name
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={128} />
      </label>
      <label>
        Members
        <input
          autocapitalize="none"
          spellcheck={false}
          placeholder="alice, bob"
          value={members}
          onInput={(e) => setMembers(e.currentTarget.value)}
        />
      </label>
      <PanelError app={app} />
      <button type="submit" class="primary" disabled={app.panelBusy}>
        Create group
      </button>
    </form>
  );
}

function PanelError({ app }: Props): JSX.Element | null {
  return app.panelError ? (
    <p class="error" role="alert">
      {app.panelError}
    </p>
  ) : null;
}

let searchTimer: ReturnType<typeof setTimeout> | undefined;

/** Always on top of the chat list, as in every chat app; results replace the list while there is a query. */
function SearchBox({ app }: Props): JSX.Element {
  const [q, setQ] = useState(app.searchQuery);
  const run = (value: string, delay: number) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => void app.search(value), delay);
  };
  return (
    <form
      class="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        run(q, 0);
      }}
    >
      <input
        type="search"
        aria-label="Search"
        placeholder="Search messages"
        value={q}
        onInput={(e) => {
          setQ(e.currentTarget.value);
          run(e.currentTarget.value, 300);
        }}
      />
    </form>
  );
}

function SearchResults({ app }: Props): JSX.Element {
  const results = app.searchResults ?? [];
  return (
    <nav aria-label="Results" class="results-nav">
      {app.searchError && (
        <p class="error pad" role="alert">
          {app.searchError}
        </p>
      )}
      <ul class="results">
        {!app.searchError && results.length === 0 && <li class="muted pad">No messages found.</li>}
        {results.map((m) => (
          <SearchResult key={m.message_id} app={app} m={m} />
        ))}
      </ul>
    </nav>
  );
}

function SearchResult({ app, m }: { app: AppState; m: Message }): JSX.Element {
  return (
    <li>
      <a
        href={`/chat/${encodeURIComponent(m.chat_id)}?seq=${m.seq}`}
        onClick={(e) => {
          e.preventDefault();
          void app.openChat(m.chat_id, { seq: m.seq });
        }}
      >
        <span class="title">
          <bdi>{app.titleOf(m.chat_id)}</bdi>
        </span>
        <span class="snippet" dir="auto" data-text={`${app.nameOf(m.sender_id)}: ${oneLine(m).slice(0, 140)}`} />
      </a>
    </li>
  );
}

function ChatList({ app }: Props): JSX.Element {
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
  const last = chat.last_message;
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
        <span class="avatar" aria-hidden="true">
          {initial(title)}
        </span>
        <span class="body">
          <span class="top">
            <span class="title">
              <bdi>{title}</bdi>
            </span>
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

function Welcome({ app }: Props): JSX.Element {
  return (
    <div class="welcome">
      <h2>
        Welcome
        {app.me && (
          <>
            , <bdi>{app.me.display_name}</bdi>
          </>
        )}
      </h2>
      <p class="muted">Pick a chat, or start one with “New chat”.</p>
    </div>
  );
}

function ConversationView({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element {
  const typing = app.typingIn(conv.chatId);
  // Names each in <bdi>: one right-to-left name must not reorder the list around it.
  const names = (ids: string[]) => ids.map((id, i) => [i > 0 ? ', ' : '', <bdi key={id}>{app.nameOf(id)}</bdi>]);
  let subtitle: string | JSX.Element[] = '';
  if (typing.length) subtitle = conv.kind === 'group' ? ([...names(typing).flat(), ' typing…'] as JSX.Element[]) : 'typing…';
  else if (conv.kind === 'direct' && conv.peerId && conv.peerId !== app.userId) {
    const p = app.presence.get(conv.peerId);
    subtitle = p ? (p.online ? 'online' : p.last_seen ? `last seen ${lastSeen(p.last_seen)}` : '') : '';
  } else if (conv.kind === 'group' && conv.group) {
    subtitle = names(conv.group.members.map((m) => m.user_id)).flat() as JSX.Element[];
  } else if (conv.peerId === app.userId) subtitle = 'notes to self';
  return (
    <section class="conversation" aria-label={`Conversation with ${conv.title}`}>
      <header class="bar conv-bar">
        <button type="button" class="back" aria-label="Back to chats" onClick={() => app.closeChat()}>
          ‹
        </button>
        <div class="who">
          <h2>
            <bdi>{conv.title || '…'}</bdi>
          </h2>
          <p class={`sub ${typing.length ? 'typing' : ''}`} aria-live="polite">
            {subtitle}
          </p>
        </div>
        {conv.kind === 'group' && !conv.removed && (
          <button type="button" aria-expanded={app.panel === 'group-info'} onClick={() => app.openPanel('group-info')}>
            Group info
          </button>
        )}
      </header>
      {app.panel === 'group-info' && conv.group && <GroupInfo app={app} conv={conv} />}
      <MessageList app={app} conv={conv} pending={app.pendingIn(conv.chatId)} />
      {conv.removed ? <p class="muted pad center">You are no longer a member of this group.</p> : <Composer key={conv.chatId} app={app} />}
    </section>
  );
}

function GroupInfo({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element {
  const group = conv.group!;
  const admin = group.members.some((m) => m.user_id === app.userId && m.role === 'admin');
  const [name, setName] = useState(group.name);
  const [add, setAdd] = useState('');
  return (
    <div class="panel group-info">
      <h3>Members ({group.members.length})</h3>
      <ul class="members" aria-label="Members">
        {group.members.map((m) => (
          <li key={m.user_id}>
            <span>
              <bdi>{app.nameOf(m.user_id)}</bdi>
              {m.role === 'admin' && <span class="muted"> · admin</span>}
            </span>
            {admin && m.user_id !== app.userId && (
              <button type="button" class="link" disabled={app.panelBusy} onClick={() => void app.removeMember(m.user_id)}>
                Remove {app.nameOf(m.user_id)}
              </button>
            )}
          </li>
        ))}
      </ul>
      {admin && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void app.addMember(add).then(() => setAdd(''));
          }}
        >
          <label>
            Add member
            <input autocapitalize="none" spellcheck={false} value={add} onInput={(e) => setAdd(e.currentTarget.value)} required />
          </label>
          <button type="submit" disabled={app.panelBusy}>
            Add
          </button>
        </form>
      )}
      {admin && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void app.renameGroup(name);
          }}
        >
          <label>
            Group name
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={128} />
          </label>
          <button type="submit" disabled={app.panelBusy}>
            Rename
          </button>
        </form>
      )}
      <PanelError app={app} />
      <button type="button" class="danger" disabled={app.panelBusy} onClick={() => void app.leaveGroup()}>
        Leave group
      </button>
    </div>
  );
}

type ListProps = { app: AppState; conv: Conversation; pending: Msg[] };
type Snapshot = { atBottom: boolean; anchorKey: string | null; anchorTop: number };

/**
 * The message list: a window of at most MAX_WINDOW messages. Scrolling near the top loads
 * the older page (and the state drops the farthest newer one), near the bottom the newer
 * page; the message at the top of the view stays where it was on screen across both.
 */
class MessageList extends Component<ListProps> {
  private el = createRef<HTMLOListElement>();
  private lastScrollToken = -1;

  override getSnapshotBeforeUpdate(): Snapshot | null {
    const el = this.el.current;
    if (!el) return null;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    for (const child of Array.from(el.children) as HTMLElement[]) {
      if (child.offsetTop + child.offsetHeight > el.scrollTop) {
        return { atBottom, anchorKey: child.dataset.key ?? null, anchorTop: child.offsetTop - el.scrollTop };
      }
    }
    return { atBottom, anchorKey: null, anchorTop: 0 };
  }

  override componentDidMount(): void {
    this.restore(null);
  }

  override componentDidUpdate(_p: ListProps, _s: unknown, snap: Snapshot | null): void {
    this.restore(snap);
  }

  private restore(snap: Snapshot | null): void {
    const el = this.el.current;
    const { conv } = this.props;
    if (!el) return;
    if (conv.scrollToken !== this.lastScrollToken && !conv.loading) {
      this.lastScrollToken = conv.scrollToken;
      const target = conv.highlightSeq !== null ? el.querySelector<HTMLElement>(`[data-seq="${conv.highlightSeq}"]`) : null;
      if (target) target.scrollIntoView({ block: 'center' });
      else el.scrollTop = el.scrollHeight;
    } else if (snap?.atBottom && !conv.hasNewer) {
      el.scrollTop = el.scrollHeight;
    } else if (snap?.anchorKey) {
      const anchor = Array.from(el.children).find((c) => (c as HTMLElement).dataset.key === snap.anchorKey) as HTMLElement | undefined;
      if (anchor) el.scrollTop = anchor.offsetTop - snap.anchorTop;
    }
    // A short page that does not fill the view cannot be scrolled: fetch the next at once.
    if (!conv.loading && el.scrollHeight <= el.clientHeight + 10) {
      if (conv.hasOlder) void this.props.app.loadOlder();
    }
  }

  private onScroll = (): void => {
    const el = this.el.current;
    if (!el) return;
    const { app, conv } = this.props;
    if (el.scrollTop < 300 && conv.hasOlder) void app.loadOlder();
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 300 && conv.hasNewer) void app.loadNewer();
  };

  override render({ app, conv, pending }: ListProps): JSX.Element {
    const rows: JSX.Element[] = [];
    let lastDay = '';
    const all = conv.hasNewer ? conv.messages : [...conv.messages, ...pending];
    for (const m of all) {
      const day = new Date(m.created_at).toDateString();
      if (day !== lastDay) {
        lastDay = day;
        rows.push(
          <li key={`day-${day}-${m.key}`} class="day" data-key={`day-${m.key}`}>
            <span>{dayLabel(m.created_at)}</span>
          </li>,
        );
      }
      rows.push(<MessageRow key={m.key} app={app} conv={conv} m={m} />);
    }
    return (
      <div class="messages-wrap">
        {conv.loading && <p class="muted center pad">Loading messages…</p>}
        {conv.error && (
          <p class="error center pad" role="alert">
            {conv.error}
          </p>
        )}
        <ol class="messages" ref={this.el} onScroll={this.onScroll} role="log" aria-label="Chat history">
          {conv.loadingOlder && <li class="muted center">Loading older messages…</li>}
          {!conv.loading && !conv.hasOlder && conv.messages.length > 0 && (
            <li class="muted center start">This is the start of the chat.</li>
          )}
          {!conv.loading && all.length === 0 && !conv.error && <li class="muted center">No messages yet. Say hello!</li>}
          {rows}
        </ol>
        {conv.hasNewer && (
          <button type="button" class="jump" onClick={() => void app.loadLatest(conv)}>
            Jump to latest
          </button>
        )}
      </div>
    );
  }
}

function MessageRow({ app, conv, m }: { app: AppState; conv: Conversation; m: Msg }): JSX.Element {
  const mine = m.sender_id === app.userId;
  const status = mine ? app.statusOf(conv, m) : null;
  return (
    <li
      class={`msg ${mine ? 'mine' : 'theirs'} ${conv.highlightSeq !== null && m.seq === conv.highlightSeq ? 'highlight' : ''}`}
      data-key={m.key}
      data-seq={m.seq ?? undefined}
    >
      {!mine && conv.kind === 'group' && (
        <span class="sender">
          <bdi>{app.nameOf(m.sender_id)}</bdi>
        </span>
      )}
      {m.forwarded && !m.deleted && <span class="forwarded">Forwarded</span>}
      <Quote app={app} m={m} />
      {m.attachments?.length ? <Attachments app={app} list={m.attachments} /> : null}
      {m.deleted ? (
        <span class="text deleted">This message was deleted</span>
      ) : (
        m.content && (
          <span class="text" dir="auto">
            {m.content}
          </span>
        )
      )}
      <span class="meta">
        {m.edited_at && !m.deleted && <span class="edited">edited</span>}
        <time dateTime={new Date(m.created_at).toISOString()}>{clock(m.created_at)}</time>
        {status && <Tick status={status} />}
      </span>
      <Reactions app={app} m={m} />
      {m.message_id !== null && <MessageActions app={app} conv={conv} m={m} />}
      {mine && <MessageInfoView app={app} m={m} />}
      {status === 'failed' && (
        <span class="error small">
          {m.error ?? 'Not sent.'}{' '}
          <button type="button" class="link" onClick={() => app.discardFailed(m.key)}>
            Discard
          </button>
        </span>
      )}
    </li>
  );
}

function isInlineImage(a: Attachment): boolean {
  return !!a.thumbnail || /^image\/(png|jpeg|webp|gif)$/.test(a.content_type);
}

function Attachments({ app, list }: { app: AppState; list: Attachment[] }): JSX.Element {
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
function useMediaUrl(app: AppState, mediaId: string): [string | null, () => void] {
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

const TICKS: Record<Status, string> = { sending: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function Tick({ status }: { status: Status }): JSX.Element {
  return (
    <span class={`tick ${status}`} role="img" aria-label={status} title={status}>
      {TICKS[status]}
    </span>
  );
}

/** One per chat (keyed by it), so a draft does not follow you into another chat. */
type Staged = { id: number; name: string; loaded: number; total: number; att?: Attachment; error?: string };
let stagedSeq = 0;

/** Who can be mentioned in the open chat: the group's other members, or the other person of a direct chat. */
function mentionable(app: AppState): Member[] {
  const conv = app.conv;
  if (!conv) return [];
  const ids = conv.group ? conv.group.members.map((m) => m.user_id) : conv.peerId ? [conv.peerId] : [];
  return ids.filter((id) => id !== app.userId && app.users.has(id)).map((id) => ({ user_id: id, name: app.nameOf(id) }));
}

function Composer({ app }: Props): JSX.Element {
  const [text, setText] = useState('');
  const [files, setFiles] = useState<Staged[]>([]);
  const [caret, setCaret] = useState(0);
  const [chosen, setChosen] = useState<Member[]>([]);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const editing = app.editing;
  // Entering edit mode puts the message's text in the box; leaving it empties the box.
  useEffect(() => {
    setText(editing ? editing.content : '');
    if (editing) box.current?.focus();
  }, [editing?.key]);
  useEffect(() => {
    if (app.replyTo) box.current?.focus();
  }, [app.replyTo?.key]);
  const q = editing ? null : mentionQuery(text, caret);
  const candidates = q && q.start !== dismissed ? mentionCandidates(mentionable(app), q.query) : [];
  const choose = (m: Member) => {
    if (!q) return;
    const next = `${text.slice(0, q.start)}@${m.name} ${text.slice(caret)}`;
    const at = q.start + m.name.length + 2;
    setText(next);
    setChosen((list) => (list.some((x) => x.user_id === m.user_id) ? list : [...list, m]));
    setActive(0);
    requestAnimationFrame(() => {
      box.current?.setSelectionRange(at, at);
      setCaret(at);
    });
  };
  const update = (id: number, patch: Partial<Staged>) => setFiles((list) => list.map((f) => (f.id === id ? { ...f, ...patch } : f)));
  const attach = (picked: File[]) => {
    for (const file of picked) {
      const id = ++stagedSeq;
      setFiles((list) => [...list, { id, name: withoutBidiControls(file.name) || 'File', loaded: 0, total: file.size }]);
      app
        .uploadFile(file, (loaded, total) => update(id, { loaded, total }))
        .then(
          (att) => update(id, { att }),
          (err: unknown) => update(id, { error: err instanceof Error ? err.message : String(err) }),
        );
    }
  };
  const uploading = files.some((f) => !f.att && !f.error);
  const ready = files.flatMap((f) => (f.att ? [f.att] : []));
  const canSend = editing ? !!text.trim() : !uploading && (!!text.trim() || ready.length > 0);
  const send = () => {
    if (!canSend) return;
    if (editing) {
      if (app.saveEdit(text)) setText('');
      return;
    }
    if (app.send(text, ready, mentionsIn(text, chosen))) {
      setText('');
      setFiles([]);
      setChosen([]);
    }
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {files.length > 0 && (
        <ul class="staged" aria-label="Files to send">
          {files.map((f) => (
            <li key={f.id}>
              <span class="name">
                <bdi>{f.name}</bdi>
              </span>
              {f.error ? (
                <span class="error small" role="alert">
                  {f.error}
                </span>
              ) : f.att ? (
                <span class="muted small">{fileSize(f.total)}</span>
              ) : (
                <progress aria-label={`Uploading ${f.name}`} max={f.total || 1} value={f.loaded} />
              )}
              {(f.att || f.error) && (
                <button type="button" class="link" onClick={() => setFiles((list) => list.filter((x) => x.id !== f.id))}>
                  Remove {f.name}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <label class="attach" title="Attach">
        <svg
          aria-hidden="true"
          viewBox="0 0 24 24"
          width="22"
          height="22"
          fill="none"
          stroke="currentColor"
          stroke-width="2"
          stroke-linecap="round"
        >
          <path d="M21 11.5l-8.5 8.5a5.5 5.5 0 0 1-7.8-7.8l9-9a3.7 3.7 0 0 1 5.2 5.2l-9 9a1.8 1.8 0 0 1-2.6-2.6l8.3-8.3" />
        </svg>
        <input
          type="file"
          multiple
          aria-label="Attach"
          class="visually-hidden"
          onChange={(e) => {
            const picked = Array.from(e.currentTarget.files ?? []);
            e.currentTarget.value = '';
            attach(picked);
          }}
        />
      </label>
      <ComposeContext app={app} />
      {candidates.length > 0 && (
        <ul class="mentions" role="listbox" id="mention-list" aria-label="Mention">
          {candidates.map((m, i) => (
            <li
              key={m.user_id}
              id={`mention-${m.user_id}`}
              role="option"
              aria-selected={i === active % candidates.length}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the box
                choose(m);
              }}
            >
              {m.name}
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={box}
        aria-label="Message"
        placeholder="Type a message"
        rows={1}
        value={text}
        maxLength={100000}
        aria-autocomplete="list"
        aria-controls={candidates.length > 0 ? 'mention-list' : undefined}
        aria-activedescendant={candidates.length > 0 ? `mention-${candidates[active % candidates.length]!.user_id}` : undefined}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setCaret(e.currentTarget.selectionStart);
          setDismissed(null);
          if (e.currentTarget.value && !editing) app.composing();
        }}
        onKeyUp={(e) => setCaret(e.currentTarget.selectionStart)}
        onClick={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={(e) => {
          if (candidates.length > 0 && q) {
            // "@" completion: arrows pick a member, Enter or Tab takes it, Escape closes the list.
            if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
              e.preventDefault();
              setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : candidates.length - 1)) % candidates.length);
              return;
            }
            if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
              e.preventDefault();
              choose(candidates[active % candidates.length]!);
              return;
            }
            if (e.key === 'Escape') {
              e.preventDefault();
              setDismissed(q.start);
              return;
            }
          }
          if (e.key === 'Escape' && (app.editing || app.replyTo)) {
            e.preventDefault();
            app.cancelCompose();
            return;
          }
          // Enter sends, Shift+Enter is a new line (as in every chat app on a keyboard).
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit" class="primary send" disabled={!canSend}>
        {editing ? 'Save' : 'Send'}
      </button>
    </form>
  );
}

// ---- formatting ----

/** A message as one line of text (a list preview, a search result): its text, or what it carries. */
function oneLine(m: Message): string {
  if (m.deleted) return 'This message was deleted';
  if (m.content) return m.content;
  const first = m.attachments?.[0];
  if (!first) return '';
  return first.filename ?? (first.content_type.startsWith('image/') ? 'Photo' : 'File');
}

function fileSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function initial(title: string): string {
  return (Array.from(title.trim())[0] ?? '?').toUpperCase();
}

function clock(t: number): string {
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

function sameDay(a: Date, b: Date): boolean {
  return a.toDateString() === b.toDateString();
}

function dayLabel(t: number): string {
  const d = new Date(t);
  const now = new Date();
  if (sameDay(d, now)) return 'Today';
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return 'Yesterday';
  return d.toLocaleDateString(undefined, {
    day: 'numeric',
    month: 'long',
    year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric',
  });
}

function shortTime(t: number): string {
  const d = new Date(t);
  return sameDay(d, new Date()) ? clock(t) : d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

function lastSeen(t: number): string {
  const label = dayLabel(t);
  return `${label === 'Today' || label === 'Yesterday' ? label.toLowerCase() : label} at ${clock(t)}`;
}
