import type { UserRecord } from './store.js';

/*
 * Users who sign in from the host app (PROTOCOL.md "Signing in from your own app") are
 * known by (issuer, subject): the app's name for them. The pair is unique in the store,
 * so two nodes creating the same user at once end with one.
 */
export interface ExternalIdentities {
  /** The user the pair names, or null. */
  userOf(issuer: string, subject: string): Promise<UserRecord | null>;
  /**
   * Creates the user with the pair, in one transaction. When the pair already names a user
   * (another node was first) nothing is created and that user is the answer;
   * 'username_taken' when the username is in use (nothing is created either).
   */
  create(user: Omit<UserRecord, 'lastSeen'>, issuer: string, subject: string): Promise<UserRecord | 'username_taken'>;
}

/** The password hash of a user who signs in only through the host app: no password matches it. */
export const NO_PASSWORD = 'external';
