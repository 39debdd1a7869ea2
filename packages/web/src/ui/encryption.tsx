import type { JSX } from 'preact';
import type { AppState, Conversation } from '../app-state.js';

/* End-to-end encryption views: the lock mark, the header's "Encrypt chat" and "Security code", the codes, and the notice when one changed. */

type Props = { app: AppState; conv: Conversation };

/** The mark of an end-to-end encrypted chat (in the list and the conversation's header). */
export function Lock(): JSX.Element {
  return (
    <span class="lock" role="img" aria-label="End-to-end encrypted" title="End-to-end encrypted">
      {/* Drawn, not an emoji: a system without an emoji font would show a box. */}
      <svg
        aria-hidden="true"
        viewBox="0 0 24 24"
        width="14"
        height="14"
        fill="none"
        stroke="currentColor"
        stroke-width="2.2"
        stroke-linecap="round"
      >
        <rect x="5" y="11" width="14" height="10" rx="2" />
        <path d="M8 11V8a4 4 0 0 1 8 0v3" />
      </svg>
    </span>
  );
}

/** Header buttons: "Encrypt chat" for a plaintext direct chat, "Security code" in an encrypted chat this device is in. */
export function EncryptionActions({ app, conv }: Props): JSX.Element | null {
  if (conv.removed) return null;
  if (app.isEncrypted(conv.chatId)) {
    if (!app.canSendEncrypted(conv.chatId)) return null;
    return (
      <button type="button" aria-expanded={app.panel === 'security-code'} onClick={() => app.showSecurityCode()}>
        Security code
      </button>
    );
  }
  // Notes to self stay as they are: there is nobody to encrypt for.
  if (conv.kind !== 'direct' || !conv.peerId || conv.peerId === app.userId) return null;
  const why = app.cryptoUnavailable;
  return (
    <button
      type="button"
      disabled={why !== null || app.panelBusy}
      title={why ?? 'Only the devices of the two of you can read what is sent from now on; this cannot be undone.'}
      onClick={() => void app.encryptChat()}
    >
      Encrypt chat
    </button>
  );
}

/** Digits as 12 groups of 5 (docs/e2ee.md "Security code"), in rows of four so two people can read them out. */
function CodeDigits({ code }: { code: string }): JSX.Element {
  const groups = code.split(' ');
  const rows = [groups.slice(0, 4), groups.slice(4, 8), groups.slice(8, 12)];
  return (
    <code class="code">
      {rows.map((r, i) => (
        <span key={i} class="code-row">
          {r.join(' ')}
          {i < 2 ? ' ' : ''}
        </span>
      ))}
    </code>
  );
}

/** The "Security code" screen: each member's code; the same person's code must read the same on every member's screen. */
export function SecurityCodePanel({ app, conv }: Props): JSX.Element {
  const codes = app.securityCodes(conv.chatId);
  return (
    <section class="panel security-code" aria-label="Security code">
      <h3>Security code</h3>
      <p class="muted small">
        Compare these with the people themselves (in person, or on a call): a person's code must be the same on their screen and yours. It
        changes when they add or lose a device.
      </p>
      <ul class="codes" aria-label="Security codes">
        {codes.map((c) => (
          <li key={c.userId}>
            <span class="who">{c.mine ? 'You' : <bdi>{app.nameOf(c.userId)}</bdi>}</span>
            <CodeDigits code={c.code} />
          </li>
        ))}
      </ul>
      <button type="button" onClick={() => app.openPanel(null)}>
        Close
      </button>
    </section>
  );
}

/** A notice in the conversation when someone's code is not the one last shown on the "Security code" screen. */
export function CodeChangeNotice({ app, conv }: Props): JSX.Element | null {
  if (!app.isEncrypted(conv.chatId) || app.panel === 'security-code') return null;
  const changed = app.changedCodes(conv);
  if (!changed.length) return null;
  return (
    <p class="notice code-changed" role="status">
      {changed.map((id, i) => [i > 0 ? ', ' : '', <bdi key={id}>{app.nameOf(id)}</bdi>])}
      {changed.length === 1 ? '’s security code changed' : ': security codes changed'} since you last checked it. A new device of theirs
      does this; if they added none, someone may be listening in. Compare it under “Security code”.
    </p>
  );
}
