import type { JSX } from 'preact';
import type { AppState, Conversation } from '../app-state.js';
import { Composer } from './composer.js';
import { lastSeen } from './format.js';
import { GroupInfo } from './group-info.js';
import { MessageList } from './message-list.js';
import { Avatar } from './avatar.js';
import { BlockedNote, PeerActions, ReportForm } from './people.js';
import { PanelError } from './sidebar.js';
import { CodeChangeNotice, EncryptionActions, Lock, SecurityCodePanel } from './encryption.js';

/* The open conversation: its header (with a direct chat's people controls), the message list and the composer. */

export function ConversationView({ app, conv }: { app: AppState; conv: Conversation }): JSX.Element {
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
        <Avatar app={app} userId={conv.kind === 'direct' ? conv.peerId : null} name={conv.title} />
        <div class="who">
          <div class="title-row">
            <h2>
              <bdi>{conv.title || '…'}</bdi>
            </h2>
            {app.isEncrypted(conv.chatId) && <Lock />}
          </div>
          <p class={`sub ${typing.length ? 'typing' : ''}`} aria-live="polite">
            {subtitle}
          </p>
        </div>
        {conv.kind === 'group' && !conv.removed && (
          <button type="button" aria-expanded={app.panel === 'group-info'} onClick={() => app.openPanel('group-info')}>
            Group info
          </button>
        )}
        <EncryptionActions app={app} conv={conv} />
        <PeerActions app={app} conv={conv} />
      </header>
      {app.panel === 'group-info' && conv.group && <GroupInfo app={app} conv={conv} />}
      {app.panel === 'security-code' && <SecurityCodePanel app={app} conv={conv} />}
      <CodeChangeNotice app={app} conv={conv} />
      {/* Keyed: a new report starts blank. */}
      {app.reportTarget && <ReportForm key={`${app.reportTarget.userId}:${app.reportTarget.messageId ?? ''}`} app={app} />}
      {app.panel === null && !app.reportTarget && <PanelError app={app} />}
      <BlockedNote app={app} conv={conv} />
      <MessageList app={app} conv={conv} pending={app.pendingIn(conv.chatId)} />
      {conv.removed ? (
        <p class="muted pad center">You are no longer a member of this group.</p>
      ) : app.isEncrypted(conv.chatId) && !app.canSendEncrypted(conv.chatId) ? (
        <p class="muted pad center" role="status">
          {app.cryptoUnavailable ??
            (app.cryptoRunning
              ? 'This device is not in this encrypted chat yet: a member adds it when they next open the chat.'
              : 'Starting encryption…')}
        </p>
      ) : (
        <Composer key={conv.chatId} app={app} />
      )}
    </section>
  );
}
