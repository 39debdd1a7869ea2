/*
 * What an encrypted chat's application messages carry inside the MLS ciphertext (docs/e2ee.md
 * "Inside the ciphertext"): UTF-8 JSON of one of these shapes. The server never sees them; only
 * SDKs agree on them, so every field is checked on the way in and anything unknown is ignored
 * (a newer client's additions do not break an older one).
 */

/** A client-encrypted file: where the server keeps its ciphertext, and how to open it. */
export interface EncryptedFile {
  /** The media id the opaque bytes were uploaded as (also listed in the send's attachments). */
  media_id: string;
  /** AES-256-GCM key and 12-byte IV, base64. */
  key: string;
  iv: string;
  /** SHA-256 of the ciphertext, base64: checked before decrypting. */
  sha256: string;
  /** What the file is, as its sender said: for showing it, never sent to the server in the clear. */
  name: string;
  content_type: string;
  size: number;
  /** A small image the sender made and encrypted the same way (the server makes none). */
  thumbnail?: Omit<EncryptedFile, 'thumbnail' | 'name'> & { width?: number; height?: number };
}

/** A message: text, and optionally what it answers, who it mentions, files. */
export interface AppText {
  kind: 'text';
  text: string;
  /** message_id of the message it answers. */
  replyTo?: string;
  mentions?: string[];
  files?: EncryptedFile[];
}

/** A change to an earlier message of the chat: an edit of its text, or the sender's reaction ("" takes it back). */
export type AppChange = { kind: 'edit'; target: string; text: string } | { kind: 'react'; target: string; emoji: string };

export type AppMessage = AppText | AppChange;

export function encodeAppMessage(m: AppMessage): Uint8Array {
  let body: Record<string, unknown>;
  if (m.kind === 'edit') body = { edit: m.target, t: m.text };
  else if (m.kind === 'react') body = { react: m.target, emoji: m.emoji };
  else {
    body = { t: m.text };
    if (m.replyTo) body.r = m.replyTo;
    if (m.mentions?.length) body.m = m.mentions;
    if (m.files?.length) body.f = m.files;
  }
  return new TextEncoder().encode(JSON.stringify(body));
}

const str = (v: unknown): v is string => typeof v === 'string';

/** The application message in `data`; an unreadable one is an empty text (shown, not dropped: it took a seq). */
export function decodeAppMessage(data: Uint8Array): AppMessage {
  let body: Record<string, unknown>;
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as unknown;
    body = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    body = {};
  }
  if (str(body.edit)) return { kind: 'edit', target: body.edit, text: str(body.t) ? body.t : '' };
  if (str(body.react)) return { kind: 'react', target: body.react, emoji: str(body.emoji) ? body.emoji : '' };
  const out: AppText = { kind: 'text', text: str(body.t) ? body.t : '' };
  if (str(body.r)) out.replyTo = body.r;
  if (Array.isArray(body.m)) out.mentions = body.m.filter(str);
  if (Array.isArray(body.f)) out.files = body.f.map(toFile).filter((f): f is EncryptedFile => f !== null);
  return out;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** The parts every encrypted file and thumbnail have; null when one is missing or of the wrong type. */
function toBlob(f: Record<string, unknown>): Omit<EncryptedFile, 'name' | 'thumbnail'> | null {
  const { media_id, key, iv, sha256, content_type, size } = f;
  if (!str(media_id) || !str(key) || !str(iv) || !str(sha256) || !str(content_type) || !num(size)) return null;
  return { media_id, key, iv, sha256, content_type, size };
}

/** A file entry with only the known fields (checked); a malformed thumbnail is dropped, a malformed file is null. */
function toFile(v: unknown): EncryptedFile | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const f = v as Record<string, unknown>;
  const blob = toBlob(f);
  if (!blob || !str(f.name)) return null;
  const file: EncryptedFile = { ...blob, name: f.name };
  const t = f.thumbnail;
  const thumb = t !== null && typeof t === 'object' && !Array.isArray(t) ? toBlob(t as Record<string, unknown>) : null;
  if (thumb) {
    const { width, height } = t as Record<string, unknown>;
    file.thumbnail = { ...thumb, ...(num(width) ? { width } : {}), ...(num(height) ? { height } : {}) };
  }
  return file;
}
