export const MAX_CONTENT_CHARS = 100_000;
export const MAX_FRAME_BYTES = 1024 * 1024;
export const MAX_GROUP_MEMBERS = 1024;
export const MAX_PRESENCE_WATCH = 1000;
export const HISTORY_LIMIT_DEFAULT = 50;
export const HISTORY_LIMIT_MAX = 200;
export const USERNAME_RE = /^[a-z0-9_.]{3,32}$/;
