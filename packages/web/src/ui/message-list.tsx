import { Component, createRef, type JSX } from 'preact';
import type { AppState, Conversation, Msg, Status } from '../app-state.js';
import { Attachments, EncryptedAttachments, PendingFile } from './attachments.js';
import { clock, dayLabel } from './format.js';
import { MessageActions, MessageInfoView, Quote, Reactions } from './message-actions.js';

/* The messages of the open chat, one row each, with their ticks. */

type ListProps = { app: AppState; conv: Conversation; pending: Msg[] };
type Snapshot = { atBottom: boolean; anchorKey: string | null; anchorTop: number };

/**
 * The message list: a window of at most MAX_WINDOW messages. Scrolling near the top loads
 * the older page (and the state drops the farthest newer one), near the bottom the newer
 * page; the message at the top of the view stays where it was on screen across both.
 */
export class MessageList extends Component<ListProps> {
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
    // An encrypted edit or reaction is an entry of the log, no message: applied to its target, not shown.
    const all = (conv.hasNewer ? conv.messages : [...conv.messages, ...pending]).filter((m) => !m.change);
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
      {m.files?.length && !m.deleted ? <EncryptedAttachments app={app} list={m.files} /> : null}
      {m.pendingFile ? <PendingFile name={m.pendingFile.name} size={m.pendingFile.size} /> : null}
      {m.deleted ? (
        <span class="text deleted">This message was deleted</span>
      ) : m.encrypted && !m.content && !m.files?.length ? (
        <span class="text encrypted-pending">
          {app.isUndecryptable(m.message_id) ? 'This message could not be decrypted on this device.' : 'Encrypted message'}
        </span>
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

const TICKS: Record<Status, string> = { sending: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function Tick({ status }: { status: Status }): JSX.Element {
  return (
    <span class={`tick ${status}`} role="img" aria-label={status} title={status}>
      {TICKS[status]}
    </span>
  );
}
