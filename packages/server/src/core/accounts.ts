import type { DeviceView, UserView } from '@switchboard/protocol';
import type { DeviceRecord, Store, UserRecord } from '../engines/store/store.js';
import type { Snowflake } from '../util/snowflake.js';
import { DomainError } from './errors.js';
import { hashPassword, hashToken, newToken, verifyPassword } from './passwords.js';

export interface AccountsDeps {
  store: Store;
  ids: Snowflake;
  scryptCost: number;
  now: () => number;
  /** Runs password hashes a few at a time (core/limits.ts BoundedWork); default: all at once. */
  hashing?: { run<T>(job: () => Promise<T>): Promise<T> };
}

/** A device's last_active_at is written at most this often (it is a store write per authenticated call otherwise). */
const TOUCH_EVERY_MS = 60_000;

export function userView(u: UserRecord): UserView {
  return { user_id: u.id, username: u.username, display_name: u.displayName };
}

// Verifying against a dummy hash for unknown users keeps login time the same either way.
let dummyHash: Promise<string> | null = null;

/** Users and device sessions. */
export class Accounts {
  /** When this node last wrote each device's activity. */
  private readonly touched = new Map<string, number>();

  constructor(private readonly deps: AccountsDeps) {}

  private hash<T>(job: () => Promise<T>): Promise<T> {
    return this.deps.hashing ? this.deps.hashing.run(job) : job();
  }

  async register(input: { username: string; password: string; display_name?: string }): Promise<UserRecord> {
    const { store, ids, now, scryptCost } = this.deps;
    const passwordHash = await this.hash(() => hashPassword(input.password, scryptCost));
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

  async login(input: {
    username: string;
    password: string;
    device_name?: string;
  }): Promise<{ token: string; user: UserRecord; device: DeviceRecord }> {
    const { store, ids, now, scryptCost } = this.deps;
    const user = await store.getUserByUsername(input.username);
    if (!user) {
      dummyHash ??= hashPassword('not a real password', scryptCost);
      const dummy = await dummyHash;
      await this.hash(() => verifyPassword(input.password, dummy));
      throw new DomainError('invalid_credentials', 'wrong username or password');
    }
    if (!(await this.hash(() => verifyPassword(input.password, user.passwordHash)))) {
      throw new DomainError('invalid_credentials', 'wrong username or password');
    }
    const token = newToken();
    const device: DeviceRecord = { id: ids.next(), userId: user.id, name: input.device_name ?? 'device', createdAt: now() };
    await store.createDevice({ ...device, tokenHash: hashToken(token) });
    return { token, user, device };
  }

  /** The device a bearer token belongs to, or null when it is unknown or logged out. */
  async authenticate(token: string | undefined): Promise<DeviceRecord | null> {
    if (!token || token.length > 256) return null;
    const device = await this.deps.store.deviceByTokenHash(hashToken(token));
    if (device) this.touch(device.id);
    return device;
  }

  /** Notes that the device is active: written to the store at most once a minute per device and node. */
  touch(deviceId: string): void {
    const now = this.deps.now();
    const last = this.touched.get(deviceId);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    if (this.touched.size >= 100_000) this.touched.clear(); // bounded; at worst a few extra writes
    this.touched.set(deviceId, now);
    // Best effort: a lost activity mark only makes last_active_at older.
    this.deps.store.touchDevice(deviceId, now).catch(() => {});
  }

  /** The user's live sessions (GET /v1/devices); `current` marks the calling device. */
  async devices(userId: string, currentDeviceId: string): Promise<DeviceView[]> {
    return (await this.deps.store.listDevices(userId)).map((d) => ({
      device_id: d.id,
      name: d.name,
      created_at: d.createdAt,
      last_active_at: Math.max(d.createdAt, d.lastActiveAt ?? 0, this.touched.get(d.id) ?? 0),
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
