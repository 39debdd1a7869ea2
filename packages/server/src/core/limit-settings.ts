import type { BucketSpec } from '../util/token-bucket.js';

/*
 * Every per-client limit, its default and its environment variable. Defaults are set so
 * that a person never meets them and a script always does (README "Limits" lists them).
 * A bucket is `burst:perSecond` in the environment, e.g. LIMIT_SENDS=500:20.
 */

export interface LimitSettings {
  /** Messages a device may send: a burst, then per second. Per node (a device's socket is on one node). */
  sends: BucketSpec;
  /** Bytes of message content (UTF-8) a device may send. Per node. */
  sendBytes: BucketSpec;
  /** Messages a user may send from all its devices together (per node: beside the per-device bucket). */
  userSends: BucketSpec;
  /** Bytes of message content a user may send from all its devices together. Per node. */
  userSendBytes: BucketSpec;
  /**
   * Every other socket frame of a device (acks, typing, presence, ping, bad frames); an
   * ack_delivered takes one token per 100 ids it names. The burst lets a client that acks
   * a 10,000-message backlog one message at a time do so. Per node.
   */
  frames: BucketSpec;
  /** Authenticated HTTP requests of a device (history, search, chats, media...). Per node. */
  requests: BucketSpec;
  /** Uploads (POST /v1/media) a user starts, whatever their size (the daily quota counts bytes). Shared. */
  mediaUploads: BucketSpec;
  /** Failed logins per username from one client address; past it that address is refused for that username. Shared by every node. */
  loginFailuresUser: BucketSpec;
  /**
   * Failed logins per username from every address together; past it the username's logins
   * are delayed (at most 3 s), never refused, so nobody can lock another user out. Shared.
   */
  loginSlowdownUser: BucketSpec;
  /** Failed logins per client address. Shared. */
  loginFailuresAddress: BucketSpec;
  /** Accounts created per client address. Shared. */
  registrations: BucketSpec;
  /** Groups a user creates. Shared. */
  groupCreations: BucketSpec;
  /** Member additions, removals and renames a user makes. Shared. */
  membershipChanges: BucketSpec;
  /** Reports (POST /v1/reports) a user files. Shared. */
  reports: BucketSpec;
  /** GET /v1/users?prefix= per device (PROTOCOL.md "People"): finding people, not listing them all. */
  userSearches: BucketSpec;
  /**
   * Key package claims (POST /v1/mls/key-packages/claim) per claiming user, counted per
   * distinct user named: each named user costs every one of its devices a one-use package.
   * The burst covers claiming a 1,024-member group's users. Shared.
   */
  mlsClaims: BucketSpec;
  /**
   * Claims naming one user, per (claiming user, named user): what stops one account from
   * draining one victim's one-use packages (and so forcing it onto its last-resort one),
   * which the per-claimer burst alone would allow. Shared.
   */
  mlsClaimsPerTarget: BucketSpec;
  /** Key package uploads (POST /v1/mls/key-packages) per user, counted per request (each holds at most 100). Shared. */
  mlsKeyPackageUploads: BucketSpec;
  /** Commits (POST /v1/chats/{id}/mls/commits) per user, accepted or not. Shared. */
  mlsCommits: BucketSpec;
  /**
   * Handshake bytes per user: a commit's base64 characters plus its group info's and every
   * welcome's, which travel only inside commits. A commit larger than the burst passes
   * when the bucket is full, and empties it. Shared.
   */
  mlsCommitBytes: BucketSpec;
  /** Open sockets per device. Shared. */
  socketsPerDevice: number;
  /** Open sockets per user (all devices). Shared. */
  socketsPerUser: number;
  /** Password hashes (scrypt) running at once on a node; the rest wait in line. */
  passwordHashConcurrency: number;
  /** Logins that may wait for a hash at once; past it (or after 30 s in line) a login gets 429. */
  passwordHashQueue: number;
  /**
   * Registrations that may wait for a hash at once, in a line of their own (they use at
   * most half the running hashes, and a waiting login goes first); past it, 429.
   */
  passwordHashQueueRegistrations: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: LimitSettings = {
  sends: { capacity: 500, perSecond: 20 },
  sendBytes: { capacity: 2 * MiB, perSecond: MiB / 4 },
  userSends: { capacity: 1000, perSecond: 40 },
  userSendBytes: { capacity: 4 * MiB, perSecond: MiB / 2 },
  frames: { capacity: 10_000, perSecond: 500 },
  requests: { capacity: 1000, perSecond: 50 },
  mediaUploads: { capacity: 200, perSecond: 1 / 2 },
  loginFailuresUser: { capacity: 10, perSecond: 1 / 20 },
  loginSlowdownUser: { capacity: 100, perSecond: 1 / 5 },
  loginFailuresAddress: { capacity: 50, perSecond: 1 / 2 },
  // Enough for one address (an office, a test client) to create a full 1,024-member group's
  // accounts, then one every 2 s. Registrations cannot starve logins whatever the burst:
  // they hash in a lane of their own (hash-queue.ts).
  registrations: { capacity: 1100, perSecond: 1 / 2 },
  groupCreations: { capacity: 30, perSecond: 1 / 10 },
  membershipChanges: { capacity: 300, perSecond: 2 },
  reports: { capacity: 20, perSecond: 1 / 60 },
  userSearches: { capacity: 30, perSecond: 1 },
  // 1,100: a 1,024-member group's users claimed at once (11 claims of 100), then one a second.
  mlsClaims: { capacity: 1100, perSecond: 1 },
  // The SDK keeps 20 packages per device: ten claims of one user, then one per 10 minutes,
  // leave a victim most of them; a person re-claims one user only on retries and new devices.
  mlsClaimsPerTarget: { capacity: 10, perSecond: 1 / 600 },
  mlsKeyPackageUploads: { capacity: 100, perSecond: 1 / 2 },
  mlsCommits: { capacity: 300, perSecond: 1 },
  // Like the send bytes: a large group's commit (its welcome and group info carry the
  // ratchet tree) fits the burst many times over.
  mlsCommitBytes: { capacity: 32 * MiB, perSecond: MiB / 4 },
  socketsPerDevice: 10,
  socketsPerUser: 50,
  passwordHashConcurrency: 2,
  passwordHashQueue: 2048,
  passwordHashQueueRegistrations: 512,
};

/** sendBytes → LIMIT_SEND_BYTES; passwordHashQueue → PASSWORD_HASH_QUEUE. */
export function limitEnvName(name: keyof LimitSettings): string {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
  return snake.startsWith('PASSWORD_') ? snake : `LIMIT_${snake}`;
}

/** The settings from LIMIT_* (and PASSWORD_HASH_*) variables over the defaults; throws on a malformed value. */
export function limitSettingsFromEnv(env: NodeJS.ProcessEnv): LimitSettings {
  const out: Record<string, unknown> = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof LimitSettings)[]) {
    const envName = limitEnvName(name);
    const raw = env[envName]?.trim();
    if (!raw) continue;
    if (typeof DEFAULT_LIMITS[name] === 'number') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${envName}: expected a positive integer, got ${raw}`);
      out[name] = n;
    } else {
      const m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(raw);
      const capacity = Number(m?.[1]);
      const perSecond = Number(m?.[2]);
      if (!m || !(capacity >= 1) || !(perSecond > 0)) throw new Error(`${envName}: expected BURST:PER_SECOND (e.g. 500:20), got ${raw}`);
      out[name] = { capacity, perSecond };
    }
  }
  return out as unknown as LimitSettings;
}
