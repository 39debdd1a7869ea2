import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Message } from '@switchboard/client';
import type { AppState } from '../app-state.js';
import { oneLine } from './format.js';

/* Message search: the box above the chat list and the results that replace it. */

type Props = { app: AppState };

let searchTimer: ReturnType<typeof setTimeout> | undefined;

/** Always on top of the chat list, as in every chat app; results replace the list while there is a query. */
export function SearchBox({ app }: Props): JSX.Element {
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

export function SearchResults({ app }: Props): JSX.Element {
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
