import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { AppState, Conversation } from '../app-state.js';
import { PanelError } from './sidebar.js';

/* "Group info": the members, and for admins adding, removing and renaming. */

export function GroupInfo({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element {
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
