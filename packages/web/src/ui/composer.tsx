import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { withoutBidiControls, type Attachment } from '@switchboard/client';
import type { AppState } from '../app-state.js';
import { mentionCandidates, mentionQuery, mentionsIn, type Member } from '../lifecycle.js';
import { fileSize } from './format.js';
import { ComposeContext } from './message-actions.js';

/*
 * The composer: text, attachments (uploaded as they are picked; in an encrypted chat kept
 * here and encrypted when sent), @mentions, replies and edits.
 */

type Props = { app: AppState };

/**
 * One per chat (keyed by it), so a draft does not follow you into another chat. `att`: the
 * upload, done (plaintext chats); `file`: the file itself, for an encrypted chat.
 */
type Staged = { id: number; name: string; loaded: number; total: number; att?: Attachment; file?: File; error?: string };
let stagedSeq = 0;

/** Who can be mentioned in the open chat: the group's other members, or the other person of a direct chat. */
function mentionable(app: AppState): Member[] {
  const conv = app.conv;
  if (!conv) return [];
  const ids = conv.group ? conv.group.members.map((m) => m.user_id) : conv.peerId ? [conv.peerId] : [];
  return ids.filter((id) => id !== app.userId && app.users.has(id)).map((id) => ({ user_id: id, name: app.nameOf(id) }));
}

export function Composer({ app }: Props): JSX.Element {
  const [text, setText] = useState(() => app.editing?.content ?? '');
  const [files, setFiles] = useState<Staged[]>([]);
  const [caret, setCaret] = useState(0);
  const [chosen, setChosen] = useState<Member[]>([]);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const editing = app.editing;
  // Entering edit mode puts the message's text in the box; leaving it empties the box. Only
  // on a change: effects run after paint (late in a background tab), and one run at mount
  // would empty what was typed meanwhile.
  const editKey = useRef(editing?.key);
  useEffect(() => {
    if (editKey.current === editing?.key) return;
    editKey.current = editing?.key;
    setText(editing ? editing.content : '');
    if (editing) box.current?.focus();
  }, [editing?.key]);
  useEffect(() => {
    if (app.replyTo) box.current?.focus();
  }, [app.replyTo?.key]);
  // After a completed mention, the caret goes right behind it once the box shows the new text:
  // in a layout effect (same tick as the render), not in an animation frame, which runs late
  // in a background tab and would move the caret into what was typed meanwhile.
  const caretAfterRender = useRef<number | null>(null);
  useLayoutEffect(() => {
    const at = caretAfterRender.current;
    if (at === null) return;
    caretAfterRender.current = null;
    box.current?.setSelectionRange(at, at);
    setCaret(at);
  }, [text]);
  // Encrypted: everything travels inside the ciphertext (files are encrypted when sent).
  const encrypted = app.conv ? app.isEncrypted(app.conv.chatId) : false;
  const q = editing ? null : mentionQuery(text, caret);
  const candidates = q && q.start !== dismissed ? mentionCandidates(mentionable(app), q.query) : [];
  const choose = (m: Member) => {
    if (!q) return;
    const next = `${text.slice(0, q.start)}@${m.name} ${text.slice(caret)}`;
    const at = q.start + m.name.length + 2;
    setText(next);
    setChosen((list) => (list.some((x) => x.user_id === m.user_id) ? list : [...list, m]));
    setActive(0);
    caretAfterRender.current = at;
  };
  const update = (id: number, patch: Partial<Staged>) => setFiles((list) => list.map((f) => (f.id === id ? { ...f, ...patch } : f)));
  const attach = (picked: File[]) => {
    for (const file of picked) {
      const id = ++stagedSeq;
      const name = withoutBidiControls(file.name) || 'File';
      // Not uploaded now: its bytes must be encrypted first, under a key that goes inside the message.
      if (encrypted) {
        setFiles((list) => [...list, { id, name, loaded: 0, total: file.size, file }]);
        continue;
      }
      setFiles((list) => [...list, { id, name, loaded: 0, total: file.size }]);
      app
        .uploadFile(file, (loaded, total) => update(id, { loaded, total }))
        .then(
          (att) => update(id, { att }),
          (err: unknown) => update(id, { error: err instanceof Error ? err.message : String(err) }),
        );
    }
  };
  const uploading = files.some((f) => !f.att && !f.file && !f.error);
  const ready = files.flatMap((f) => (f.att ? [f.att] : []));
  const local = files.flatMap((f) => (f.file ? [f.file] : []));
  const canSend = editing ? !!text.trim() : !uploading && (!!text.trim() || ready.length > 0 || local.length > 0);
  const send = () => {
    if (!canSend) return;
    if (editing) {
      if (app.saveEdit(text)) setText('');
      return;
    }
    if (app.send(text, ready, mentionsIn(text, chosen), local)) {
      setText('');
      setFiles([]);
      setChosen([]);
    }
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {files.length > 0 && (
        <ul class="staged" aria-label="Files to send">
          {files.map((f) => (
            <li key={f.id}>
              <span class="name">
                <bdi>{f.name}</bdi>
              </span>
              {f.error ? (
                <span class="error small" role="alert">
                  {f.error}
                </span>
              ) : f.att || f.file ? (
                <span class="muted small">{fileSize(f.total)}</span>
              ) : (
                <progress aria-label={`Uploading ${f.name}`} max={f.total || 1} value={f.loaded} />
              )}
              {(f.att || f.file || f.error) && (
                <button type="button" class="link" onClick={() => setFiles((list) => list.filter((x) => x.id !== f.id))}>
                  Remove {f.name}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <label class="attach" title={encrypted ? 'Attach (encrypted when sent)' : 'Attach'}>
        <svg
          aria-hidden="true"
          viewBox="0 0 24 24"
          width="22"
          height="22"
          fill="none"
          stroke="currentColor"
          stroke-width="2"
          stroke-linecap="round"
        >
          <path d="M21 11.5l-8.5 8.5a5.5 5.5 0 0 1-7.8-7.8l9-9a3.7 3.7 0 0 1 5.2 5.2l-9 9a1.8 1.8 0 0 1-2.6-2.6l8.3-8.3" />
        </svg>
        <input
          type="file"
          multiple
          aria-label="Attach"
          class="visually-hidden"
          onChange={(e) => {
            const picked = Array.from(e.currentTarget.files ?? []);
            e.currentTarget.value = '';
            attach(picked);
          }}
        />
      </label>
      <ComposeContext app={app} />
      {candidates.length > 0 && (
        <ul class="mentions" role="listbox" id="mention-list" aria-label="Mention">
          {candidates.map((m, i) => (
            <li
              key={m.user_id}
              id={`mention-${m.user_id}`}
              role="option"
              aria-selected={i === active % candidates.length}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the box
                choose(m);
              }}
            >
              {m.name}
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={box}
        aria-label="Message"
        placeholder={encrypted ? 'Type an encrypted message' : 'Type a message'}
        rows={1}
        value={text}
        maxLength={100000}
        aria-autocomplete="list"
        aria-controls={candidates.length > 0 ? 'mention-list' : undefined}
        aria-activedescendant={candidates.length > 0 ? `mention-${candidates[active % candidates.length]!.user_id}` : undefined}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setCaret(e.currentTarget.selectionStart);
          setDismissed(null);
          if (e.currentTarget.value && !editing) app.composing();
        }}
        onKeyUp={(e) => setCaret(e.currentTarget.selectionStart)}
        onClick={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={(e) => {
          if (candidates.length > 0 && q) {
            // "@" completion: arrows pick a member, Enter or Tab takes it, Escape closes the list.
            if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
              e.preventDefault();
              setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : candidates.length - 1)) % candidates.length);
              return;
            }
            if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
              e.preventDefault();
              choose(candidates[active % candidates.length]!);
              return;
            }
            if (e.key === 'Escape') {
              e.preventDefault();
              setDismissed(q.start);
              return;
            }
          }
          if (e.key === 'Escape' && (app.editing || app.replyTo)) {
            e.preventDefault();
            app.cancelCompose();
            return;
          }
          // Enter sends, Shift+Enter is a new line (as in every chat app on a keyboard).
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit" class="primary send" disabled={!canSend}>
        {editing ? 'Save' : 'Send'}
      </button>
    </form>
  );
}
