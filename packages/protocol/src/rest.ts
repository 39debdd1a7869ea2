import { z } from 'zod';
import { USERNAME_RE } from './limits.js';
import { charCount, nameText, optional, storableText } from './text.js';

/*
 * REST request bodies, validated with the same library as socket frames. Every string that
 * is stored or looked up is storableText (no NUL, no unpaired surrogate: see text.ts).
 * Passwords are only hashed, never stored as text, so any string is accepted there.
 */
const userId = storableText().min(1).max(128);

export const CreateUserBody = z.object({
  username: z.string().regex(USERNAME_RE, 'username must be 3 to 32 of a-z 0-9 _ .'),
  // Characters, not UTF-16 code units (PROTOCOL.md "8 to 256 characters"): an emoji counts once.
  password: z
    .string()
    .refine((p) => charCount(p) >= 8, 'password must be at least 8 characters')
    .refine((p) => charCount(p) <= 256, 'password must be at most 256 characters'),
  display_name: optional(nameText().min(1).max(64)),
});
// Generous bounds: a username or password that cannot be right is a wrong login (401), not a
// malformed request; the bounds only keep what the limiter keys on and scrypt hashes small.
export const CreateSessionBody = z.object({
  username: storableText().max(256),
  password: z.string().max(1024),
  device_name: optional(nameText().max(64)),
});
/**
 * POST /v1/sessions with a token the host app signed (PROTOCOL.md "Signing in from your own
 * app"). The bound only keeps what is parsed small; the server verifies the JWT itself.
 */
export const AssertionSessionBody = z.object({
  assertion: z.string().min(1).max(16_384),
  device_name: optional(nameText().max(64)),
});
// Any number of ids (the 1 MiB body bounds them): past 1,024 members the answer is the
// protocol's 422 group_too_large, not a 400 for a long list.
export const CreateGroupBody = z.object({
  name: nameText().min(1).max(128),
  member_ids: z.array(userId),
  /** An end-to-end encrypted group (docs/e2ee.md); fixed at creation. */
  encrypted: optional(z.boolean()),
});
export const AddMembersBody = z.object({
  user_ids: z.array(userId).min(1),
});
export const RenameGroupBody = z.object({ name: nameText().min(1).max(128) });

export interface UserView {
  user_id: string;
  username: string;
  display_name: string;
  /** PATCH /v1/users/me: absent until set (and when set to ''). */
  about?: string;
  /** Absent until set (and once cleared). */
  avatar?: import('./people.js').AvatarView | null;
}
export interface SessionView {
  token: string;
  user_id: string;
  device_id: string;
  ws_url: string;
}
/** One entry of GET /v1/devices: a live session of the caller. */
export interface DeviceView {
  device_id: string;
  name: string;
  created_at: number;
  last_active_at: number;
  /** True for the device making the call. */
  current: boolean;
}
export interface GroupView {
  group_id: string;
  chat_id: string;
  name: string;
  members: { user_id: string; role: 'admin' | 'member' }[];
  created_at: number;
  /** Present (true) only for an end-to-end encrypted group. */
  encrypted?: true;
}
export interface ChatSummary {
  chat_id: string;
  kind: 'direct' | 'group';
  title: string;
  last_seq: number;
  last_message: import('./frames.js').Message | null;
  read_seq: number;
  unread_count: number;
  /** Per-user chat settings (PROTOCOL.md "Chat settings"). */
  muted_until: number | null;
  archived: boolean;
  pinned: boolean;
  /** Present (true) only for an end-to-end encrypted chat (docs/e2ee.md). */
  encrypted?: true;
}
export interface Receipt {
  user_id: string;
  delivered_at: number | null;
  read_at: number | null;
}
