import { Component, createRef, type JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ChatSummary, Message } from '@switchboard/client';
import type { AppState, Conversation, Msg, Status } from './app-state.js';

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
            {app.me?.display_name ?? ''}
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
        <span class="title">{app.titleOf(m.chat_id)}</span>
        <span class="snippet" data-text={`${app.nameOf(m.sender_id)}: ${m.content.slice(0, 140)}`} />
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
  return (
    <nav aria-label="Chat list">
      <ul class="chats">
        {app.chats.map((c) => (
          <ChatItem key={c.chat_id} app={app} chat={c} />
        ))}
      </ul>
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
      ? `${last.sender_id === app.userId ? 'You: ' : chat.kind === 'group' ? `${app.nameOf(last.sender_id)}: ` : ''}${last.content.slice(0, 100)}`
      : 'No messages yet';
  const title = chat.title || 'Chat';
  // Not "unread" nor "messages": a label must not contain another control's name ("read", "Message").
  const label = chat.unread_count > 0 ? `${title} (${chat.unread_count} new)` : title;
  return (
    <li>
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
            <span class="title">{title}</span>
            {last && <span class="time" data-text={shortTime(last.created_at)} />}
          </span>
          <span class="bottom">
            {/* The open chat's last message is on screen in the conversation: its preview is
                drawn from an attribute by CSS so that the text is findable once, not twice. */}
            {current && !typing.length ? (
              <span class="preview" data-text={preview} />
            ) : (
              <span class={`preview ${typing.length ? 'typing' : ''}`}>{preview}</span>
            )}
            {chat.unread_count > 0 && <span class="badge">{chat.unread_count}</span>}
          </span>
        </span>
      </a>
    </li>
  );
}

function Welcome({ app }: Props): JSX.Element {
  return (
    <div class="welcome">
      <h2>Welcome{app.me ? `, ${app.me.display_name}` : ''}</h2>
      <p class="muted">Pick a chat, or start one with “New chat”.</p>
    </div>
  );
}

function ConversationView({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element {
  const typing = app.typingIn(conv.chatId);
  let subtitle = '';
  if (typing.length) subtitle = conv.kind === 'group' ? `${typing.map((id) => app.nameOf(id)).join(', ')} typing…` : 'typing…';
  else if (conv.kind === 'direct' && conv.peerId && conv.peerId !== app.userId) {
    const p = app.presence.get(conv.peerId);
    subtitle = p ? (p.online ? 'online' : p.last_seen ? `last seen ${lastSeen(p.last_seen)}` : '') : '';
  } else if (conv.kind === 'group' && conv.group) {
    subtitle = conv.group.members.map((m) => app.nameOf(m.user_id)).join(', ');
  } else if (conv.peerId === app.userId) subtitle = 'notes to self';
  return (
    <section class="conversation" aria-label={`Conversation with ${conv.title}`}>
      <header class="bar conv-bar">
        <button type="button" class="back" aria-label="Back to chats" onClick={() => app.closeChat()}>
          ‹
        </button>
        <div class="who">
          <h2>{conv.title || '…'}</h2>
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
              {app.nameOf(m.user_id)}
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
      {!mine && conv.kind === 'group' && <span class="sender">{app.nameOf(m.sender_id)}</span>}
      <span class="text">{m.content}</span>
      <span class="meta">
        <time dateTime={new Date(m.created_at).toISOString()}>{clock(m.created_at)}</time>
        {status && <Tick status={status} />}
      </span>
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

const TICKS: Record<Status, string> = { sending: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function Tick({ status }: { status: Status }): JSX.Element {
  return (
    <span class={`tick ${status}`} role="img" aria-label={status} title={status}>
      {TICKS[status]}
    </span>
  );
}

/** One per chat (keyed by it), so a draft does not follow you into another chat. */
function Composer({ app }: Props): JSX.Element {
  const [text, setText] = useState('');
  const send = () => {
    if (app.send(text)) setText('');
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        aria-label="Message"
        placeholder="Type a message"
        rows={1}
        value={text}
        maxLength={100000}
        onInput={(e) => {
          setText(e.currentTarget.value);
          if (e.currentTarget.value) app.composing();
        }}
        onKeyDown={(e) => {
          // Enter sends, Shift+Enter is a new line (as in every chat app on a keyboard).
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit" class="primary send" disabled={!text.trim()}>
        Send
      </button>
    </form>
  );
}

// ---- formatting ----

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
