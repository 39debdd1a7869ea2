import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ReportReason, UserView } from '@switchboard/client';
import type { AppState, Conversation } from '../app-state.js';
import { AVATAR_TYPES } from '../state/people.js';
import { Avatar } from './avatar.js';
import { PanelError } from './sidebar.js';

/*
 * People (PROTOCOL.md "People"): "New chat" with a search by username prefix, the contact
 * list, one's own profile (name, about, avatar), and in a direct chat's header: add to
 * contacts, block or unblock, report. Names are user text: each in its own <bdi>.
 */

type Props = { app: AppState };

/** One user as a button: avatar, display name and @username. */
function PersonButton({ app, user, onClick }: { app: AppState; user: UserView; onClick: () => void }): JSX.Element {
  return (
    <button type="button" class="person" onClick={onClick} disabled={app.panelBusy}>
      <Avatar app={app} userId={user.user_id} name={user.display_name} small />
      <span class="names">
        <bdi class="name">{user.display_name}</bdi> <span class="muted">@{user.username}</span>
      </span>
    </button>
  );
}

let findTimer: ReturnType<typeof setTimeout> | undefined;

/** "New chat": type a username (or its first letters: matches come as you type) and start a chat. */
export function NewChat({ app }: Props): JSX.Element {
  const [username, setUsername] = useState('');
  useEffect(() => {
    void app.findPeople('');
    return () => clearTimeout(findTimer);
  }, []);
  const found = app.peopleResults;
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
        <input
          autocapitalize="none"
          spellcheck={false}
          value={username}
          autocomplete="off"
          onInput={(e) => {
            const v = e.currentTarget.value;
            setUsername(v);
            clearTimeout(findTimer);
            findTimer = setTimeout(() => void app.findPeople(v), 250);
          }}
          required
        />
      </label>
      {found && (
        <ul class="people" aria-label="People found">
          {found.length === 0 && <li class="muted">Nobody’s username starts with that.</li>}
          {found.map((u) => (
            <li key={u.user_id}>
              <PersonButton app={app} user={u} onClick={() => void app.openDirect(u)} />
            </li>
          ))}
        </ul>
      )}
      <PanelError app={app} />
      <button type="submit" class="primary" disabled={app.panelBusy}>
        Start chat
      </button>
    </form>
  );
}

/** The contact list (kept on the server): open a chat with one, or remove one. */
export function ContactsPanel({ app }: Props): JSX.Element {
  useEffect(() => void app.loadContacts(), []);
  const list = app.contacts;
  return (
    <section class="panel" aria-label="Contacts">
      <h3>Contacts</h3>
      {!list ? (
        <p class="muted">Loading contacts…</p>
      ) : list.length === 0 ? (
        <p class="muted">No contacts yet. Open a chat and choose “Add to contacts”.</p>
      ) : (
        <ul class="people" aria-label="Contact list">
          {list.map((u) => (
            <li key={u.user_id}>
              <PersonButton app={app} user={u} onClick={() => void app.openDirect(u)} />
              <button type="button" class="link" disabled={app.panelBusy} onClick={() => void app.removeContact(u.user_id)}>
                Remove <bdi>{u.display_name}</bdi> from contacts
              </button>
            </li>
          ))}
        </ul>
      )}
      <PanelError app={app} />
    </section>
  );
}

/** One's own profile: display name, about, avatar (PATCH /v1/users/me). */
export function ProfilePanel({ app }: Props): JSX.Element {
  const me = app.me;
  const [name, setName] = useState(me?.display_name ?? '');
  const [about, setAbout] = useState(me?.about ?? '');
  const [saved, setSaved] = useState(false);
  const file = useRef<HTMLInputElement>(null);
  // The profile may arrive (GET /v1/users/me) after the panel opened.
  useEffect(() => {
    setName(me?.display_name ?? '');
    setAbout(me?.about ?? '');
  }, [me?.user_id, me?.display_name, me?.about]);
  return (
    <section class="panel profile" aria-label="Profile">
      <h3>Profile</h3>
      <div class="avatar-row">
        <Avatar app={app} userId={app.userId} name={me?.display_name ?? ''} />
        <label class="button">
          {me?.avatar ? 'Change avatar' : 'Upload avatar'}
          <input
            ref={file}
            type="file"
            accept={AVATAR_TYPES.join(',')}
            class="visually-hidden"
            disabled={app.profileBusy}
            onChange={(e) => {
              const picked = e.currentTarget.files?.[0];
              e.currentTarget.value = '';
              if (picked) void app.setAvatar(picked);
            }}
          />
        </label>
        {me?.avatar && (
          <button type="button" class="link" disabled={app.profileBusy} onClick={() => void app.removeAvatar()}>
            Remove avatar
          </button>
        )}
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          void app.saveProfile(name, about).then(setSaved);
        }}
      >
        <label>
          Display name
          <input value={name} dir="auto" maxLength={64} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          About
          <textarea value={about} dir="auto" rows={2} maxLength={500} onInput={(e) => setAbout(e.currentTarget.value)} />
        </label>
        {app.profileError && (
          <p class="error" role="alert">
            {app.profileError}
          </p>
        )}
        {saved && !app.profileError && (
          <p class="muted" role="status">
            Saved.
          </p>
        )}
        <button type="submit" class="primary" disabled={app.profileBusy}>
          Save profile
        </button>
      </form>
    </section>
  );
}

/** A direct chat's header controls: contacts, block/unblock, report (not in notes to self). */
export function PeerActions({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element | null {
  const peer = conv.peerId;
  if (conv.kind !== 'direct' || !peer || peer === app.userId) return null;
  const blocked = app.blocked.has(peer);
  return (
    <div class="peer-actions">
      {app.contacts && !app.isContact(peer) && (
        <button type="button" disabled={app.panelBusy} onClick={() => void app.addContact(peer)}>
          Add to contacts
        </button>
      )}
      <button type="button" disabled={app.panelBusy} onClick={() => void app.setBlocked(peer, !blocked)}>
        {blocked ? 'Unblock' : 'Block'}
      </button>
      <button type="button" aria-expanded={app.reportTarget !== null} onClick={() => app.startReport({ userId: peer })}>
        Report
      </button>
    </div>
  );
}

/** A note in a direct chat with someone this user blocked. */
export function BlockedNote({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element | null {
  if (conv.kind !== 'direct' || !conv.peerId || !app.blocked.has(conv.peerId)) return null;
  return (
    <p class="muted pad center blocked-note" role="status">
      You blocked <bdi>{app.nameOf(conv.peerId)}</bdi>: their messages to you are refused.
    </p>
  );
}

const REASONS: { value: ReportReason; label: string }[] = [
  { value: 'spam', label: 'Spam' },
  { value: 'abuse', label: 'Abuse' },
  { value: 'other', label: 'Other' },
];

/** "Report": a reason and an optional note, sent to the server's operator (POST /v1/reports). */
export function ReportForm({ app }: Props): JSX.Element | null {
  const [reason, setReason] = useState<ReportReason>('spam');
  const [note, setNote] = useState('');
  const t = app.reportTarget;
  if (!t) return null;
  return (
    <form
      class="panel report"
      aria-label="Report"
      onSubmit={(e) => {
        e.preventDefault();
        void app.sendReport(reason, note);
      }}
    >
      <h3>
        Report <bdi>{app.nameOf(t.userId)}</bdi>
        {t.messageId ? ' (this message)' : ''}
      </h3>
      <label>
        Reason
        <select value={reason} onChange={(e) => setReason(e.currentTarget.value as ReportReason)}>
          {REASONS.map((r) => (
            <option key={r.value} value={r.value}>
              {r.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Note (optional)
        <textarea value={note} dir="auto" rows={2} maxLength={1000} onInput={(e) => setNote(e.currentTarget.value)} />
      </label>
      <PanelError app={app} />
      <div class="row">
        <button type="submit" class="danger" disabled={app.panelBusy}>
          Submit report
        </button>
        <button type="button" onClick={() => app.cancelReport()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
