import { randomBytes } from 'node:crypto';
import { USERNAME_RE, nameText, withoutBidiControls } from '@switchboard/protocol';
import type { ExternalClaims } from './external-auth.js';

/** How many made-up usernames a first sign-in tries (each random: a clash of all is not expected). */
const MADE_UP_TRIES = 6;
const displayNameSchema = nameText().min(1).max(64);

/**
 * The usernames to try, in order, for a host app's user signing in for the first time:
 * its `preferred_username` (lowercased) when it obeys the username rules, then names made
 * up from it or from `sub` (only a-z 0-9 _ . kept) with a random suffix, then random ones.
 * The display name is `name` without bidirectional controls, when that is a valid name.
 */
export function externalUserCandidates(claims: ExternalClaims): { usernames: string[]; displayName: string | undefined } {
  const usernames: string[] = [];
  const preferred = claims.preferredUsername?.toLowerCase();
  if (preferred && USERNAME_RE.test(preferred)) usernames.push(preferred);
  const base = (preferred ?? claims.subject)
    .toLowerCase()
    .replace(/[^a-z0-9_.]/g, '')
    .slice(0, 24);
  const suffix = () => randomBytes(4).toString('hex').slice(0, 6);
  for (let i = 0; i < MADE_UP_TRIES; i++) {
    usernames.push(base.length > 0 && i < MADE_UP_TRIES / 2 ? `${base}_${suffix()}` : `user_${suffix()}${suffix()}`);
  }
  let displayName: string | undefined;
  if (claims.name !== undefined) {
    const cleaned = withoutBidiControls(claims.name).trim();
    if (displayNameSchema.safeParse(cleaned).success) displayName = cleaned;
  }
  return { usernames, displayName };
}
