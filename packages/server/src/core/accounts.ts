import type { DeviceView, UserView } from '@switchboard/protocol';
import type { DeviceRecord, Store, UserRecord } from '../engines/store/store.js';
import type { Snowflake } from '../util/snowflake.js';
import { DomainError } from './errors.js';
import type { HashLane } from './hash-queue.js';
import { hashPassword, hashToken, needsRehash, newToken, verifyPassword } from './passwords.js';
import { NO_PASSWORD } from '../engines/store/identities.js';
import type { ExternalClaims } from './external-auth.js';
import { externalUserCandidates } from './external-users.js';

export interface AccountsDeps {
  store: Store;
  ids: Snowflake;
  passwordHashKib: number;
  now: () => number;
  /** MAX_DEVICES_PER_USER: past it a login ends the user's least recently active session. Default 100. */
  maxDevices?: number;
  /** SESSION_IDLE_DAYS (or SESSION_IDLE_MS): a session unused this long (ms) is over. Default 90 days. */
  sessionIdleMs?: number;
  /** Runs password hashes a few at a time, logins first (core/hash-queue.ts); default: all at once. */
  hashing?: { run<T>(job: () => Promise<T>, lane?: HashLane): Promise<T> };
}

/** A device's last_active_at is written at most this often (it is a store write per authenticated call otherwise). */
const TOUCH_EVERY_MS = 60_000;
/** The most sessions GET /v1/devices lists (and MAX_DEVICES_PER_USER may be): the list is one answer, not paged. */
export const DEVICES_LIST_MAX = 1000;
const DEFAULT_MAX_DEVICES = 100;
const DEFAULT_SESSION_IDLE_MS = 90 * 86_400_000;

/**
 * A user as the API shows it. `about` and `avatar` appear once set (PROTOCOL.md "People":
 * users "then carry" them), so a user who never edited a profile reads exactly as before.
 */
export function userView(u: UserRecord): UserView {
  return {
    user_id: u.id,
    username: u.username,
    display_name: u.displayName,
    ...(u.about ? { about: u.about } : {}),
    ...(u.avatar ? { avatar: u.avatar } : {}),
  };
}

// Verifying against a dummy hash for unknown users keeps login time the same either way.
let dummyHash: Promise<string> | null = null;

/** Users and device sessions. */
export class Accounts {
  /** When this node last wrote each device's activity. */
  private readonly touched = new Map<string, number>();

  constructor(private readonly deps: AccountsDeps) {}

  private hash<T>(job: () => Promise<T>, lane: HashLane = 'login'): Promise<T> {
    return this.deps.hashing ? this.deps.hashing.run(job, lane) : job();
  }

  async register(input: { username: string; password: string; display_name?: string }): Promise<UserRecord> {
    const { store, ids, now, passwordHashKib } = this.deps;
    const passwordHash = await this.hash(() => hashPassword(input.password, passwordHashKib), 'registration');
    const created = await store.createUser({
      id: ids.next(),
      username: input.username,
      displayName: input.display_name ?? input.username,
      passwordHash,
      createdAt: now(),
    });
    if (created === 'username_taken') throw new DomainError('username_taken', 'that username is taken');
    return created;
  }

  private get maxDevices(): number {
    return this.deps.maxDevices ?? DEFAULT_MAX_DEVICES;
  }

  private get idleMs(): number {
    return this.deps.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  }

  /** Activity is written at most once a minute, or more often when sessions expire sooner (tests). */
  private get touchEveryMs(): number {
    return Math.min(TOUCH_EVERY_MS, Math.max(1, Math.floor(this.idleMs / 4)));
  }

  /** When the device was last seen active: by the store, or by this node (its write may not have landed). */
  private lastActive(d: DeviceRecord & { lastActiveAt: number | null }): number {
    return Math.max(d.createdAt, d.lastActiveAt ?? 0, this.touched.get(d.id) ?? 0);
  }

  private expired(d: DeviceRecord & { lastActiveAt: number | null }): boolean {
    return this.deps.now() - this.lastActive(d) > this.idleMs;
  }

  /**
   * A new session. `revoked`: the sessions this login ended, idle past SESSION_IDLE_DAYS or,
   * past MAX_DEVICES_PER_USER, the least recently active (the caller closes their sockets).
   */
  async login(input: {
    username: string;
    password: string;
    device_name?: string;
  }): Promise<{ token: string; user: UserRecord; device: DeviceRecord; revoked: string[] }> {
    const { store, passwordHashKib } = this.deps;
    const user = await store.getUserByUsername(input.username);
    // A user of the host app has no password: it fails like an unknown one, in the same time.
    if (!user || user.passwordHash === NO_PASSWORD) {
      dummyHash ??= hashPassword('not a real password', passwordHashKib);
      const dummy = await dummyHash;
      await this.hash(() => verifyPassword(input.password, dummy));
      throw new DomainError('invalid_credentials', 'wrong username or password');
    }
    if (!(await this.hash(() => verifyPassword(input.password, user.passwordHash)))) {
      throw new DomainError('invalid_credentials', 'wrong username or password');
    }
    // Told only to whoever knows the password: a wrong one is the usual 401.
    if (user.suspended) throw new DomainError('suspended', 'this account is suspended');
    if (needsRehash(user.passwordHash, passwordHashKib)) {
      // Hashed under an older, cheaper setting: this login has the password, so store it at today's cost.
      // Best effort: a busy hashing queue or a failed write leaves the old hash, rehashed at a later login.
      await this.hash(() => hashPassword(input.password, passwordHashKib))
        .then((fresh) => store.setPasswordHash(user.id, user.passwordHash, fresh))
        .catch(() => {});
    }
    return this.openSession(user, input.device_name);
  }

  /** A new device session of the user (see login). */
  private async openSession(
    user: UserRecord,
    deviceName: string | undefined,
  ): Promise<{ token: string; user: UserRecord; device: DeviceRecord; revoked: string[] }> {
    const { store, ids, now } = this.deps;
    const token = newToken();
    const device: DeviceRecord = { id: ids.next(), userId: user.id, name: deviceName ?? 'device', createdAt: now() };
    // Suspended (or deleted) since the user was read, e.g. while the password was hashed: no session.
    if (!(await store.createDevice({ ...device, tokenHash: hashToken(token) }))) {
      if (await store.admin.isDeleted(user.id)) throw new DomainError('invalid_credentials', 'wrong username or password');
      throw new DomainError('suspended', 'this account is suspended');
    }
    return { token, user, device, revoked: await this.trimDevices(user.id, device.id) };
  }

  /**
   * A session for the host app's user (PROTOCOL.md "Signing in from your own app"; the
   * assertion is already verified): the user of (iss, sub), created at the first sign-in
   * with the app's preferred_username when valid and free, else a made-up one.
   */
  async loginExternal(
    claims: ExternalClaims,
    deviceName: string | undefined,
  ): Promise<{ token: string; user: UserRecord; device: DeviceRecord; revoked: string[] }> {
    const { store, ids, now } = this.deps;
    const { identities } = store;
    let user = await identities.userOf(claims.issuer, claims.subject);
    if (!user) {
      const { usernames, displayName } = externalUserCandidates(claims);
      for (const username of usernames) {
        const made = await identities.create(
          { id: ids.next(), username, displayName: displayName ?? username, passwordHash: NO_PASSWORD, createdAt: now() },
          claims.issuer,
          claims.subject,
        );
        if (made !== 'username_taken') {
          user = made;
          break;
        }
        // Taken, perhaps by this very user signing in on another node at the same moment.
        user = await identities.userOf(claims.issuer, claims.subject);
        if (user) break;
      }
      if (!user) throw new Error('no free username found for a new external user');
    }
    if (user.suspended) throw new DomainError('suspended', 'this account is suspended');
    return this.openSession(user, deviceName);
  }

  /** Ends the user's idle sessions and, past the cap, the least recently active ones (never `keep`). */
  private async trimDevices(userId: string, keep: string): Promise<string[]> {
    const live = await this.deps.store.listDevices(userId, DEVICES_LIST_MAX);
    const others = live.filter((d) => d.id !== keep).sort((a, b) => this.lastActive(a) - this.lastActive(b));
    const over = Math.max(0, others.length + 1 - this.maxDevices);
    const ending = others.filter((d, i) => i < over || this.expired(d));
    const revoked: string[] = [];
    for (const d of ending) {
      if (await this.deps.store.revokeUserDevice(userId, d.id, this.deps.now())) revoked.push(d.id);
    }
    return revoked;
  }

  /** The device a bearer token belongs to, or null when it is unknown, logged out or idle past SESSION_IDLE_DAYS. */
  async authenticate(token: string | undefined): Promise<DeviceRecord | null> {
    if (!token || token.length > 256) return null;
    const found = await this.deps.store.deviceByTokenHash(hashToken(token));
    if (!found) return null;
    const { lastActiveAt: _l, permanent, ...device } = found;
    // A bot's token does not expire (POST /v1/admin/bots).
    if (!permanent && this.expired(found)) {
      // Over for good: revoked, so it leaves GET /v1/devices and its push target goes too.
      await this.deps.store.revokeDevice(device.id, this.deps.now()).catch(() => {});
      return null;
    }
    this.touch(device.id);
    return device;
  }

  /** Notes that the device is active: written to the store at most once a minute per device and node. */
  touch(deviceId: string): void {
    const now = this.deps.now();
    const last = this.touched.get(deviceId);
    if (last !== undefined && now - last < this.touchEveryMs) return;
    if (this.touched.size >= 100_000) this.touched.clear(); // bounded; at worst a few extra writes
    this.touched.set(deviceId, now);
    // Best effort: a lost activity mark only makes last_active_at older.
    this.deps.store.touchDevice(deviceId, now).catch(() => {});
  }

  /**
   * The user's live sessions (GET /v1/devices), oldest first, at most DEVICES_LIST_MAX
   * (MAX_DEVICES_PER_USER keeps a user under it); `current` marks the calling device.
   * Sessions idle past SESSION_IDLE_DAYS are over, though not yet marked so: left out.
   */
  async devices(userId: string, currentDeviceId: string): Promise<DeviceView[]> {
    return (await this.deps.store.listDevices(userId, DEVICES_LIST_MAX))
      .filter((d) => !this.expired(d))
      .map((d) => ({
        device_id: d.id,
        name: d.name,
        created_at: d.createdAt,
        last_active_at: this.lastActive(d),
        current: d.id === currentDeviceId,
      }));
  }

  /** Ends one of the user's sessions; 404 when the device is not the user's (or is already gone). */
  async revokeDevice(userId: string, deviceId: string): Promise<void> {
    if (!(await this.deps.store.revokeUserDevice(userId, deviceId, this.deps.now()))) {
      throw new DomainError('not_found', 'no such device');
    }
  }

  /** A user by id, or null. */
  user(userId: string): Promise<UserRecord | null> {
    return this.deps.store.getUser(userId);
  }

  /** A user by exact username, or null. */
  userByUsername(username: string): Promise<UserRecord | null> {
    return this.deps.store.getUserByUsername(username);
  }

  async logout(device: DeviceRecord): Promise<void> {
    await this.deps.store.revokeDevice(device.id, this.deps.now());
  }
}
