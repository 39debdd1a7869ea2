import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { AppState } from '../app-state.js';
import { ChatList } from './chat-list.js';
import { SearchBox, SearchResults } from './search.js';
import { Avatar } from './avatar.js';
import { ContactsPanel, NewChat, ProfilePanel } from './people.js';

/* The left column: who is signed in, the actions (new chat, new group, contacts, profile, notifications), and the chat list or search results under them. */

type Props = { app: AppState };

export function Sidebar({ app }: Props): JSX.Element {
  return (
    <aside class="sidebar" aria-label="Chats">
      <header class="bar side-bar">
        <div class="who-am-i">
          <Avatar app={app} userId={app.userId} name={app.me?.display_name ?? ''} small />
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
          <button type="button" aria-expanded={app.panel === 'contacts'} onClick={() => app.openPanel('contacts')}>
            Contacts
          </button>
          <button type="button" aria-expanded={app.panel === 'profile'} onClick={() => app.openPanel('profile')}>
            Profile
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
      {app.panel === 'contacts' && <ContactsPanel app={app} />}
      {app.panel === 'profile' && <ProfilePanel app={app} />}
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

function NewGroup({ app }: Props): JSX.Element {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [encrypted, setEncrypted] = useState(false);
  return (
    <form
      class="panel"
      aria-label="New group"
      onSubmit={(e) => {
        e.preventDefault();
        void app.createGroup(name, members, encrypted);
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
      <label class="check">
        <input
          type="checkbox"
          checked={encrypted}
          disabled={app.cryptoUnavailable !== null}
          aria-describedby={app.cryptoUnavailable ? 'e2ee-why' : undefined}
          onChange={(e) => setEncrypted(e.currentTarget.checked)}
        />
        End-to-end encrypted
      </label>
      {app.cryptoUnavailable && (
        <p id="e2ee-why" class="muted small">
          {app.cryptoUnavailable}
        </p>
      )}
      <PanelError app={app} />
      <button type="submit" class="primary" disabled={app.panelBusy}>
        Create group
      </button>
    </form>
  );
}

export function PanelError({ app }: Props): JSX.Element | null {
  return app.panelError ? (
    <p class="error" role="alert">
      {app.panelError}
    </p>
  ) : null;
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
