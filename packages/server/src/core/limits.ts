import { randomUUID } from 'node:crypto';
import type { RateLimitStore } from '../engines/rate-limit-store/rate-limit-store.js';
import type { Logger } from '../util/logger.js';
import { LocalBuckets } from '../util/token-bucket.js';
import { DomainError } from './errors.js';
import { HashQueue } from './hash-queue.js';
import type { LimitSettings } from './limit-settings.js';

/** A request refused by a limit: HTTP 429 with Retry-After, or a `rate_limited` error frame. */
export class RateLimited extends DomainError {
  constructor(
    readonly retryAfterMs: number,
    message: string,
  ) {
    super('rate_limited', message, { retry_after_ms: retryAfterMs });
  }
}

/** A socket slot lives this long without a refresh: a node that dies frees its sockets' places after it. */
const SOCKET_SLOT_TTL_MS = 60_000;
/**
 * How long a login or registration may wait in line for a password hash. Generous: a
 * hash costs ~50-150 ms of a core, and a burst of honest sign-ups (a class, a script
 * seeding a test) must wait rather than fail; a flood past it is refused.
 */
const HASH_MAX_WAIT_MS = 30_000;
/** The longest a login waits while its username is under attack from many addresses (a delay, never a refusal). */
const LOGIN_SLOWDOWN_MAX_MS = 3_000;

export interface LimitsDeps {
  /** Counters every node must agree on (Redis in a cluster). */
  store: RateLimitStore;
  settings: LimitSettings;
  /** false: RATE_LIMITS=off, nothing is refused (password hashes still run a few at a time). */
  enabled: boolean;
  log: Logger;
}

/**
 * Every per-client limit (PROTOCOL.md "Limits"; defaults and variables in
 * limit-settings.ts). Socket frames are counted per device in this process: a device's
 * socket lives on one node, and the check must cost nothing on the send path. Logins,
 * registrations, group changes and socket counts go through the shared store, so they
 * hold across nodes. If that store fails, the request is let through (and logged):
 * Redis trouble must not lock every user out.
 */
export class Limits {
  readonly hashing: HashQueue;
  private readonly sends: LocalBuckets;
  private readonly sendBytes: LocalBuckets;
  private readonly userSends: LocalBuckets;
  private readonly userSendBytes: LocalBuckets;
  private readonly frames: LocalBuckets;
  private readonly requests: LocalBuckets;
  /** This node's sockets' places, refreshed until released. */
  private readonly held = new Map<string, { userKey: string; deviceKey: string }>();
  private timer: NodeJS.Timeout | undefined;
  /** Login attempts per (address, username) being checked on this node right now. */
  private readonly pendingLogins = new Map<string, number>();

  /** False with RATE_LIMITS=off: every limit lets everything through. */
  get enabled(): boolean {
    return this.deps.enabled;
  }

  constructor(private readonly deps: LimitsDeps) {
    const s = deps.settings;
    this.hashing = new HashQueue(
      s.passwordHashConcurrency,
      { login: s.passwordHashQueue, registration: s.passwordHashQueueRegistrations },
      HASH_MAX_WAIT_MS,
      deps.enabled,
    );
    this.sends = new LocalBuckets(s.sends);
    this.sendBytes = new LocalBuckets(s.sendBytes);
    this.userSends = new LocalBuckets(s.userSends);
    this.userSendBytes = new LocalBuckets(s.userSendBytes);
    this.frames = new LocalBuckets(s.frames);
    this.requests = new LocalBuckets(s.requests);
  }

  /** Refreshes held socket places and forgets full local buckets. */
  start(): void {
    this.timer ??= setInterval(() => {
      for (const b of [this.sends, this.sendBytes, this.userSends, this.userSendBytes, this.frames, this.requests]) b.sweep();
      const slots = [...this.held.entries()].flatMap(([id, h]) => [
        { key: h.userKey, id },
        { key: h.deviceKey, id },
      ]);
      if (slots.length === 0) return;
      this.deps.store
        .refreshSlots(slots, SOCKET_SLOT_TTL_MS)
        .catch((err) => this.deps.log.warn({ err }, 'refreshing socket places failed'));
    }, SOCKET_SLOT_TTL_MS / 3);
    this.timer.unref();
  }

  /**
   * 0 when the device may send a message of `bytes` content bytes now, else the ms to wait.
   * Counted per device and per user (so a user's many devices do not multiply its rate).
   * Nothing is taken when refused.
   */
  sendWait(userId: string, deviceId: string, bytes: number): number {
    if (!this.deps.enabled) return 0;
    const wait = Math.max(
      this.sends.take(deviceId, 0, 1),
      this.sendBytes.take(deviceId, 0, bytes),
      this.userSends.take(userId, 0, 1),
      this.userSendBytes.take(userId, 0, bytes),
    );
    if (wait) return wait;
    this.sends.take(deviceId, 1);
    this.sendBytes.take(deviceId, bytes);
    this.userSends.take(userId, 1);
    this.userSendBytes.take(userId, bytes);
    return 0;
  }

  /** 0 when the device may send another (non-message) frame of `cost` tokens now, else the ms to wait. */
  frameWait(deviceId: string, cost = 1): number {
    // Never more than a full bucket, or a frame that heavy could never pass.
    return this.deps.enabled ? this.frames.take(deviceId, Math.min(cost, this.deps.settings.frames.capacity)) : 0;
  }

  /**
   * An authenticated HTTP request of the device: refused past its bucket. Per node, like
   * frames: a device's requests usually reach one node, and a flood spread over many
   * nodes is still bounded by each.
   */
  request(deviceId: string): void {
    if (!this.deps.enabled) return;
    const wait = this.requests.take(deviceId);
    if (wait) throw new RateLimited(wait, 'too many requests from this device: try again later');
  }

  /** Before an upload is started: tiny uploads are cheap in bytes but not in rows and objects. */
  async mediaUpload(userId: string): Promise<void> {
    await this.check(`upl:u:${userId}`, this.deps.settings.mediaUploads, 'too many uploads: try again later');
  }

  /** Before an account is created from `address`. */
  async register(address: string): Promise<void> {
    await this.check(`reg:a:${address}`, this.deps.settings.registrations, 'too many accounts created from this address');
  }

  /**
   * A login attempt. Refused (checked before any password work) while this address has
   * too many recent failures for this username, or for any username; a failure (401) is
   * counted against both. Failures are not refused per username alone: that would let
   * anyone lock anyone out. Failures for the username from every address together only
   * slow its logins down (up to LOGIN_SLOWDOWN_MAX_MS before the answer): the owner, from
   * an address that has not failed, still gets in. Attempts on one username from one
   * address still being checked on this node count as failures to come, so guesses sent
   * all at once meet the limit too (a person signs in one device at a time).
   */
  async login<T>(address: string, username: string, attempt: () => Promise<T>): Promise<T> {
    if (!this.deps.enabled) return attempt();
    const { loginFailuresUser, loginFailuresAddress, loginSlowdownUser } = this.deps.settings;
    const name = username.toLowerCase();
    const pairKey = `login:ua:${address}:${name}`;
    const addressKey = `login:a:${address}`;
    const userKey = `login:u:${name}`;
    const pending = this.pendingLogins.get(pairKey) ?? 0;
    if (pending + 1 > loginFailuresUser.capacity) throw new RateLimited(1000, 'too many logins at once for this account: try again later');
    this.pendingLogins.set(pairKey, pending + 1);
    try {
      const [p, a, u] = await Promise.all([
        this.peek(pairKey, loginFailuresUser, pending + 1),
        this.peek(addressKey, loginFailuresAddress, 1),
        this.peek(userKey, loginSlowdownUser, 1),
      ]);
      if (p || a) throw new RateLimited(Math.max(p, a), 'too many failed logins: try again later');
      if (u) await new Promise((resolve) => setTimeout(resolve, Math.min(u, LOGIN_SLOWDOWN_MAX_MS)));
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof DomainError && err.code === 'invalid_credentials') {
          await Promise.all([
            this.charge(pairKey, loginFailuresUser),
            this.charge(addressKey, loginFailuresAddress),
            this.charge(userKey, loginSlowdownUser),
          ]);
        }
        throw err;
      }
    } finally {
      const left = (this.pendingLogins.get(pairKey) ?? 1) - 1;
      if (left > 0) this.pendingLogins.set(pairKey, left);
      else this.pendingLogins.delete(pairKey);
    }
  }

  /**
   * A sign-in with the host app's assertion: refused while this address has too many recent
   * failed logins (of either kind), and a bad assertion counts as a failed login of the address.
   */
  async assertionLogin<T>(address: string, attempt: () => Promise<T>): Promise<T> {
    if (!this.deps.enabled) return attempt();
    const { loginFailuresAddress } = this.deps.settings;
    const addressKey = `login:a:${address}`;
    const wait = await this.peek(addressKey, loginFailuresAddress, 1);
    if (wait) throw new RateLimited(wait, 'too many failed logins: try again later');
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof DomainError && err.code === 'invalid_credentials') await this.charge(addressKey, loginFailuresAddress);
      throw err;
    }
  }

  async groupCreation(userId: string): Promise<void> {
    await this.check(`grp:u:${userId}`, this.deps.settings.groupCreations, 'too many groups created: try again later');
  }

  async report(userId: string): Promise<void> {
    await this.check(`rep:u:${userId}`, this.deps.settings.reports, 'too many reports: try again later');
  }

  /** GET /v1/users?prefix=, per device. */
  async userSearch(deviceId: string): Promise<void> {
    await this.check(`usr:d:${deviceId}`, this.deps.settings.userSearches, 'too many user searches: try again later');
  }

  /**
   * A key package claim by `userId` naming `targetIds` (docs/e2ee.md "Limits"): one token
   * of the claimer's bucket per distinct user named, and one of each (claimer, named user)
   * bucket, so neither a loop over everyone nor a loop over one victim drains one-use
   * packages. The pair buckets are looked at first: a claim refused for one of them takes
   * nothing. Only claims racing this one between the look and the take can spend tokens
   * of a claim that is then refused.
   */
  async mlsClaim(userId: string, targetIds: readonly string[]): Promise<void> {
    if (!this.deps.enabled) return;
    const { mlsClaims, mlsClaimsPerTarget } = this.deps.settings;
    const targets = [...new Set(targetIds)];
    const pairKey = (target: string) => `mlsc:p:${userId}:${target}`;
    const tooMany = 'too many key package claims: try again later';
    const pairs = async (cost: number) =>
      Math.max(
        0,
        ...(await Promise.all(
          targets.map((t) => this.deps.store.take(pairKey(t), mlsClaimsPerTarget, cost, 1).catch((err) => this.unavailable(err))),
        )),
      );
    let wait = await pairs(0);
    if (wait) throw new RateLimited(wait, `${tooMany} (the same user claimed too often)`);
    // Never more than a full bucket, or the largest claim could never pass.
    const cost = Math.min(targets.length, mlsClaims.capacity);
    await this.check(`mlsc:u:${userId}`, mlsClaims, tooMany, cost);
    wait = await pairs(1);
    if (wait) throw new RateLimited(wait, `${tooMany} (the same user claimed too often)`);
  }

  /** POST /v1/mls/key-packages, per user. */
  async mlsKeyPackageUpload(userId: string): Promise<void> {
    await this.check(`mlsk:u:${userId}`, this.deps.settings.mlsKeyPackageUploads, 'too many key package uploads: try again later');
  }

  /**
   * Before a commit's body is read: refused at once while either commit bucket is empty,
   * so a refused flood does not make the node read and parse bodies of up to 16 MiB.
   */
  async mlsCommitStart(userId: string): Promise<void> {
    if (!this.deps.enabled) return;
    const { mlsCommits, mlsCommitBytes } = this.deps.settings;
    const [n, b] = await Promise.all([this.peek(`mlsm:u:${userId}`, mlsCommits, 1), this.peek(`mlsb:u:${userId}`, mlsCommitBytes, 1)]);
    if (n || b) throw new RateLimited(Math.max(n, b), 'too many commits: try again later');
  }

  /**
   * A commit of `chars` base64 characters (commit, group info and welcomes together), per
   * user: one of the commit bucket and `chars` of the handshake bytes bucket, both or neither.
   */
  async mlsCommit(userId: string, chars: number): Promise<void> {
    if (!this.deps.enabled) return;
    const { mlsCommits, mlsCommitBytes } = this.deps.settings;
    // Never more than a full bucket, or the largest commit could never pass.
    const bytes = Math.min(chars, mlsCommitBytes.capacity);
    const countKey = `mlsm:u:${userId}`;
    const bytesKey = `mlsb:u:${userId}`;
    const [n, b] = await Promise.all([this.peek(countKey, mlsCommits, 1), this.peek(bytesKey, mlsCommitBytes, bytes)]);
    if (n || b) throw new RateLimited(Math.max(n, b), 'too many commits: try again later');
    await this.check(countKey, mlsCommits, 'too many commits: try again later');
    await this.check(bytesKey, mlsCommitBytes, 'too many commit bytes: try again later', bytes);
  }

  async membershipChange(userId: string): Promise<void> {
    await this.check(`mem:u:${userId}`, this.deps.settings.membershipChanges, 'too many membership changes: try again later');
  }

  /**
   * Takes a place for a new socket of the device (and its user); answers the function
   * that gives it back (call it when the socket closes). Refused past the caps.
   */
  async openSocket(userId: string, deviceId: string): Promise<() => void> {
    if (!this.deps.enabled) return () => {};
    const { store, settings, log } = this.deps;
    const id = randomUUID();
    const userKey = `sock:u:${userId}`;
    const deviceKey = `sock:d:${deviceId}`;
    try {
      if (!(await store.acquireSlot(deviceKey, id, settings.socketsPerDevice, SOCKET_SLOT_TTL_MS))) {
        throw new RateLimited(5000, `at most ${settings.socketsPerDevice} sockets per device`);
      }
      if (!(await store.acquireSlot(userKey, id, settings.socketsPerUser, SOCKET_SLOT_TTL_MS))) {
        await store.releaseSlot(deviceKey, id);
        throw new RateLimited(5000, `at most ${settings.socketsPerUser} sockets per user`);
      }
    } catch (err) {
      if (err instanceof RateLimited) throw err;
      log.warn({ err }, 'socket limit unavailable: letting the socket in');
      return () => {};
    }
    this.held.set(id, { userKey, deviceKey });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(id);
      // A place that cannot be given back now expires with its TTL.
      void Promise.all([store.releaseSlot(deviceKey, id), store.releaseSlot(userKey, id)]).catch(() => {});
    };
  }

  private async check(key: string, spec: LimitSettings['sends'], message: string, cost = 1): Promise<void> {
    if (!this.deps.enabled) return;
    const wait = await this.deps.store.take(key, spec, cost).catch((err) => this.unavailable(err));
    if (wait) throw new RateLimited(wait, message);
  }

  private peek(key: string, spec: LimitSettings['sends'], need: number): Promise<number> {
    return this.deps.store.take(key, spec, 0, need).catch((err) => this.unavailable(err));
  }

  private async charge(key: string, spec: LimitSettings['sends']): Promise<void> {
    await this.deps.store.take(key, spec, 1, 0).catch((err) => this.unavailable(err));
  }

  private unavailable(err: unknown): number {
    this.deps.log.warn({ err }, 'rate-limit store unavailable: letting the request through');
    return 0;
  }

  /** Stops the refresh; the store is an engine and closes with the engines. */
  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
