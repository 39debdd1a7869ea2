import type { UserView } from '@switchboard/protocol';
import type { DeviceRecord, Store, UserRecord } from '../engines/store/store.js';
import type { Snowflake } from '../util/snowflake.js';
import { DomainError } from './errors.js';
import { hashPassword, hashToken, newToken, verifyPassword } from './passwords.js';

export interface AccountsDeps {
  store: Store;
  ids: Snowflake;
  scryptCost: number;
  now: () => number;
}

export function userView(u: UserRecord): UserView {
  return { user_id: u.id, username: u.username, display_name: u.displayName };
}

// Verifying against a dummy hash for unknown users keeps login time the same either way.
let dummyHash: Promise<string> | null = null;

/** Users and device sessions. */
export class Accounts {
  constructor(private readonly deps: AccountsDeps) {}

  async register(input: { username: string; password: string; display_name?: string }): Promise<UserRecord> {
    const { store, ids, now, scryptCost } = this.deps;
    const passwordHash = await hashPassword(input.password, scryptCost);
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
      await verifyPassword(input.password, await dummyHash);
      throw new DomainError('invalid_credentials', 'wrong username or password');
    }
    if (!(await verifyPassword(input.password, user.passwordHash))) {
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
    return this.deps.store.deviceByTokenHash(hashToken(token));
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
