export const MAX_CONTENT_CHARS = 100_000;
export const MAX_FRAME_BYTES = 1024 * 1024;
export const MAX_GROUP_MEMBERS = 1024;
export const MAX_PRESENCE_WATCH = 1000;
export const HISTORY_LIMIT_DEFAULT = 50;
export const HISTORY_LIMIT_MAX = 200;
export const USERNAME_RE = /^[a-z0-9_.]{3,32}$/;

/** docs/e2ee.md "Limits". */
export const MAX_KEY_PACKAGE_CHARS = 16_384;
export const MAX_KEY_PACKAGES_PER_UPLOAD = 100;
export const MAX_KEY_PACKAGES_KEPT = 500;
export const MAX_CLAIM_USERS = 100;
export const MAX_MLS_BLOB_CHARS = 4_000_000;
export const MAX_WELCOMES_PER_COMMIT = 1_100;
/** The body limit of the routes that carry commits (a 1,024-member group's welcome is large). */
export const MLS_BODY_BYTES = 16 * 1024 * 1024;
