import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatSummary } from '@switchboard/client';
import type { AppState, Conversation, Msg } from '../app-state.js';
import { canDelete, canEdit, isMuted, MUTED_FOREVER, QUICK_REACTIONS } from '../lifecycle.js';

/*
 * Message lifecycle views: the "Message actions" menu of a message, the quote above a reply,
 * reaction chips, and the chat list's options (mute, archive, pin). Accessible names come from
 * text (visually hidden where the control shows an icon), not aria-label: a label containing
 * "Message" would also answer to the composer's label.
 */

type Item = { label: string; run: () => void; keepOpen?: boolean };

/**
 * A menu button (WAI-ARIA menu button pattern): Enter/Space/click opens it with the first item
 * focused, arrows move, Escape closes and returns focus to the button, leaving it closes it.
 */
function MenuButton({
  name,
  icon,
  class: cls,
  menuLabel,
  items,
  onClose,
}: {
  name: string;
  icon: string;
  class: string;
  menuLabel: string;
  items: (close: () => void) => Item[];
  onClose?: () => void;
}): JSX.Element {
  const [open, setOpenState] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  const setOpen = (v: boolean) => {
    setOpenState(v);
    if (!v) onClose?.();
  };
  const close = (refocus = true) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };
  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
  }, [open, menuLabel]);
  useEffect(() => {
    if (!open) return;
    const outside = (e: PointerEvent) => {
      const t = e.target as Node;
      if (!menu.current?.contains(t) && !button.current?.contains(t)) setOpen(false);
    };
    document.addEventListener('pointerdown', outside);
    return () => document.removeEventListener('pointerdown', outside);
  }, [open]);
  const onKeyDown = (e: KeyboardEvent) => {
    const all = Array.from(menu.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? []);
    const at = all.indexOf(document.activeElement as HTMLElement);
    const move = (i: number) => all[(i + all.length) % all.length]?.focus();
    if (e.key === 'Escape') close();
    else if (e.key === 'ArrowDown' || e.key === 'ArrowRight') move(at + 1);
    else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') move(at - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(all.length - 1);
    else if (e.key === 'Tab') setOpen(false);
    else return;
    if (e.key !== 'Tab') e.preventDefault();
  };
  return (
    <span class={`menu-wrap ${cls}`}>
      <button
        type="button"
        class="menu-button"
        ref={button}
        aria-haspopup="menu"
        aria-expanded={open}
        title={name}
        onClick={() => setOpen(!open)}
      >
        <span aria-hidden="true">{icon}</span>
        <span class="visually-hidden">{name}</span>
      </button>
      {open && (
        <ul class="menu" role="menu" aria-label={menuLabel} ref={menu} onKeyDown={onKeyDown}>
          {items(() => close()).map((it) => (
            <li role="none" key={it.label}>
              <button
                type="button"
                role="menuitem"
                tabIndex={-1}
                onClick={() => {
                  if (!it.keepOpen) close();
                  it.run();
                }}
              >
                {it.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </span>
  );
}

/** "Message actions" on a stored message: Reply, React, Edit, Delete for everyone, Copy, Info (your group messages). */
export function MessageActions({ app, conv, m }: { app: AppState; conv: Conversation; m: Msg }): JSX.Element {
  const [picking, setPicking] = useState(false);
  return (
    <MenuButton
      name="Message actions"
      icon="⌄"
      class="msg-actions"
      menuLabel={picking ? 'Reactions' : 'Actions'}
      onClose={() => setPicking(false)}
      items={() => {
        if (picking)
          return QUICK_REACTIONS.map((emoji) => ({
            label: emoji,
            run: () => {
              setPicking(false);
              app.react(m, emoji);
            },
          }));
        const items: Item[] = [];
        // Encrypted chats too: replies, reactions and edits travel inside the ciphertext.
        if (!m.deleted && !conv.removed) {
          items.push({ label: 'Reply', run: () => app.startReply(m) });
          items.push({ label: 'React', run: () => setPicking(true), keepOpen: true });
        }
        if (!conv.removed && canEdit(m, app.userId)) items.push({ label: 'Edit', run: () => app.startEdit(m) });
        if (!conv.removed && canDelete(m, app.userId, conv))
          items.push({ label: 'Delete for everyone', run: () => app.deleteForEveryone(m) });
        if (!m.deleted && m.content) items.push({ label: 'Copy', run: () => void app.copyMessage(m) });
        if (conv.kind === 'group' && m.sender_id === app.userId && !m.deleted) items.push({ label: 'Info', run: () => app.toggleInfo(m) });
        if (m.sender_id !== app.userId && m.message_id)
          items.push({ label: 'Report', run: () => app.startReport({ userId: m.sender_id, messageId: m.message_id! }) });
        return items;
      }}
    />
  );
}

/** The message a reply quotes: who wrote it and its first words; a click goes to it. */
export function Quote({ app, m }: { app: AppState; m: Msg }): JSX.Element | null {
  const q = m.reply_to;
  if (!q) return null;
  const who = app.nameOf(q.sender_id);
  return (
    <button type="button" class="quote" onClick={() => app.jumpToMessage(q.message_id)}>
      <span class="visually-hidden">Quoted message from </span>
      <bdi class="quote-name">{who}</bdi>
      {/* Drawn from an attribute (like list previews), so the quoted text is on screen as text once. */}
      <span class={`quote-text ${q.preview ? '' : 'gone'}`} dir="auto" data-text={q.preview || 'This message was deleted'} />
    </button>
  );
}

/** Reaction chips with counts; a click sets or takes back one's own. */
export function Reactions({ app, m }: { app: AppState; m: Msg }): JSX.Element | null {
  if (!m.reactions?.length || m.deleted) return null;
  return (
    <ul class="reactions" aria-label="Reactions">
      {m.reactions.map((r) => {
        const mine = r.user_ids.includes(app.userId);
        const who = r.user_ids.map((id) => app.nameOf(id)).join(', ');
        return (
          <li key={r.emoji}>
            <button
              type="button"
              class={`chip ${mine ? 'mine' : ''}`}
              aria-pressed={mine}
              title={who}
              onClick={() => app.react(m, r.emoji)}
            >
              {r.emoji} {r.count}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** A chat's options in the list: Pin, Mute, Archive and their undo. */
export function ChatOptions({ app, chat, title }: { app: AppState; chat: ChatSummary; title: string }): JSX.Element {
  return (
    <MenuButton
      name={`Options for ${title}`}
      icon="⋮"
      class="chat-options"
      menuLabel="Chat options"
      items={() => [
        { label: chat.pinned ? 'Unpin' : 'Pin', run: () => void app.setChatSettings(chat.chat_id, { pinned: !chat.pinned }) },
        {
          label: isMuted(chat) ? 'Unmute' : 'Mute',
          run: () => void app.setChatSettings(chat.chat_id, { muted_until: isMuted(chat) ? null : MUTED_FOREVER }),
        },
        { label: chat.archived ? 'Unarchive' : 'Archive', run: () => void app.setChatSettings(chat.chat_id, { archived: !chat.archived }) },
      ]}
    />
  );
}

/** Above the composer: the message being answered or edited, with a way out. */
export function ComposeContext({ app }: { app: AppState }): JSX.Element | null {
  const m = app.editing ?? app.replyTo;
  if (!m) return null;
  const editing = !!app.editing;
  return (
    <div class="compose-context">
      <span class="bar-line" aria-hidden="true" />
      <span class="what">
        <span class="quote-name">{editing ? 'Editing' : `Replying to ${app.nameOf(m.sender_id)}`}</span>
        <span class="quote-text" data-text={m.content.slice(0, 140)} />
      </span>
      <button type="button" class="link" onClick={() => app.cancelCompose()}>
        {editing ? 'Cancel edit' : 'Cancel reply'}
      </button>
    </div>
  );
}

/** "Delivered to 412 of 1,023": the open Info of one of your group messages. */
export function MessageInfoView({ app, m }: { app: AppState; m: Msg }): JSX.Element | null {
  const info = app.info;
  if (!info || info.messageId !== m.message_id) return null;
  const of = (n: number | null) =>
    n === null || info.members === null ? '…' : `${n.toLocaleString('en-US')} of ${info.members.toLocaleString('en-US')}`;
  return (
    <div class="msg-info" role="group" aria-label="Message info">
      {info.error ? (
        <span class="error small">{info.error}</span>
      ) : (
        <>
          <span>Delivered to {of(info.delivered)}</span>
          <span>Read by {of(info.read)}</span>
        </>
      )}
      <button type="button" class="link" onClick={() => app.closeInfo()}>
        Close info
      </button>
    </div>
  );
}
