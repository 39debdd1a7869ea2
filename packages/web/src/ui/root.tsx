import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { AppState } from '../app-state.js';
import { ConversationView } from './conversation.js';
import { Sidebar } from './sidebar.js';

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
