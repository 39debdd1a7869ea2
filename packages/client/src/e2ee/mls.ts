import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  makePskIndex,
  processPrivateMessage,
  processPublicMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type Proposal,
  type PrivateKeyPackage,
} from 'ts-mls';
import { defaultClientConfig, type ClientConfig } from 'ts-mls/clientConfig.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { base64ToBytes, bytesToBase64 } from 'ts-mls/util/byteArray.js';
import { toLeafIndex } from 'ts-mls/treemath.js';

/*
 * The only module that knows ts-mls (pinned at 1.6.4: its 2.x changes this API). Everything
 * above it speaks in base64 strings, plain records and opaque GroupHandle objects, so moving
 * to another MLS library (or ts-mls 2) touches this file alone. Ciphersuite 1: X25519,
 * AES-128-GCM, SHA-256, Ed25519, all in pure TypeScript or WebCrypto.
 */

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
const CREDENTIAL_TAG = 'switchboard/1';

export interface DeviceIdentity {
  userId: string;
  deviceId: string;
  signaturePublicKey: Uint8Array;
  signaturePrivateKey: Uint8Array;
}

/** A key package this device made: the public half goes to the server, the private half stays here. */
export interface OwnKeyPackage {
  /** Its KeyPackageRef, hex: how a welcome names it. */
  ref: string;
  /** The public key package as an MLSMessage, base64 (what the server stores). */
  public: string;
  private: { init: string; hpke: string; signature: string };
  lastResort: boolean;
}

/** Who a leaf is, as its credential says. */
export interface LeafMember {
  leafIndex: number;
  userId: string;
  deviceId: string;
  signaturePublicKey: Uint8Array;
}

/** Decides whether a credential (user, device) may be in the group (the server's member devices). */
export type MemberCheck = (userId: string, deviceId: string) => boolean;

/** One group's MLS state: opaque above this module. */
export interface GroupHandle {
  readonly state: ClientState;
}

let suitePromise: Promise<CiphersuiteImpl> | undefined;
const suite = () => (suitePromise ??= getCiphersuiteImpl(getCiphersuiteFromName(SUITE)));

export const toBase64 = (b: Uint8Array): string => bytesToBase64(b);
export const fromBase64 = (s: string): Uint8Array => base64ToBytes(s);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** The credential identity of a device: ["switchboard/1", user_id, device_id] as UTF-8 JSON (docs/e2ee.md). */
export function credentialIdentity(userId: string, deviceId: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify([CREDENTIAL_TAG, userId, deviceId]));
}

/** The (user, device) a credential names, or null when it is not one of ours. */
export function parseIdentity(identity: Uint8Array): { userId: string; deviceId: string } | null {
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(identity)) as unknown;
    if (!Array.isArray(v) || v.length !== 3 || v[0] !== CREDENTIAL_TAG) return null;
    if (typeof v[1] !== 'string' || typeof v[2] !== 'string' || !v[1] || !v[2]) return null;
    return { userId: v[1], deviceId: v[2] };
  } catch {
    return null;
  }
}

/**
 * ts-mls's default authentication service accepts every credential; ours accepts only a
 * well-formed credential naming a device the server lists as a member device of the chat.
 */
function configFor(check: MemberCheck): ClientConfig {
  return {
    ...defaultClientConfig,
    authService: {
      async validateCredential(credential) {
        if (credential.credentialType !== 'basic') return false;
        const who = parseIdentity(credential.identity);
        return who !== null && check(who.userId, who.deviceId);
      },
    },
  };
}

const withCheck = (state: ClientState, check: MemberCheck): ClientState => ({ ...state, clientConfig: configFor(check) });

export async function newIdentity(userId: string, deviceId: string): Promise<DeviceIdentity> {
  const keys = await (await suite()).signature.keygen();
  return { userId, deviceId, signaturePublicKey: keys.publicKey, signaturePrivateKey: keys.signKey };
}

export async function newKeyPackage(id: DeviceIdentity, lastResort = false): Promise<OwnKeyPackage> {
  const cs = await suite();
  const kp = await generateKeyPackageWithKey(
    { credentialType: 'basic', identity: credentialIdentity(id.userId, id.deviceId) },
    defaultCapabilities(),
    defaultLifetime,
    [],
    { signKey: id.signaturePrivateKey, publicKey: id.signaturePublicKey },
    cs,
  );
  return {
    ref: hex(await makeKeyPackageRef(kp.publicPackage, cs.hash)),
    public: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage })),
    private: {
      init: toBase64(kp.privatePackage.initPrivateKey),
      hpke: toBase64(kp.privatePackage.hpkePrivateKey),
      signature: toBase64(kp.privatePackage.signaturePrivateKey),
    },
    lastResort,
  };
}

function decode(b64: string) {
  const decoded = decodeMlsMessage(fromBase64(b64), 0);
  if (!decoded) throw new Error('not an MLS message');
  return decoded[0];
}

function publicPackage(b64: string): KeyPackage {
  const m = decode(b64);
  if (m.wireformat !== 'mls_key_package') throw new Error('not a key package');
  return m.keyPackage;
}

const privatePackage = (kp: OwnKeyPackage): PrivateKeyPackage => ({
  initPrivateKey: fromBase64(kp.private.init),
  hpkePrivateKey: fromBase64(kp.private.hpke),
  signaturePrivateKey: fromBase64(kp.private.signature),
});

/** The (user, device) a claimed key package's credential names (checked against what the server said it is). */
export function keyPackageOwner(b64: string): { userId: string; deviceId: string } | null {
  const kp = publicPackage(b64);
  return kp.leafNode.credential.credentialType === 'basic' ? parseIdentity(kp.leafNode.credential.identity) : null;
}

/** A new group with this device alone in it (epoch 0). */
export async function newGroup(groupId: string, kp: OwnKeyPackage, check: MemberCheck): Promise<GroupHandle> {
  const cs = await suite();
  const state = await createGroup(
    new TextEncoder().encode(groupId),
    publicPackage(kp.public),
    privatePackage(kp),
    [],
    cs,
    configFor(check),
  );
  return { state };
}

export const epochOf = (g: GroupHandle): number => Number(g.state.groupContext.epoch);

export function members(g: GroupHandle): LeafMember[] {
  const out: LeafMember[] = [];
  g.state.ratchetTree.forEach((node, i) => {
    if (node?.nodeType !== 'leaf' || node.leaf.credential.credentialType !== 'basic') return;
    const who = parseIdentity(node.leaf.credential.identity);
    if (who) out.push({ leafIndex: i / 2, ...who, signaturePublicKey: node.leaf.signaturePublicKey });
  });
  return out;
}

export const ownLeafIndex = (g: GroupHandle): number => Number(g.state.privatePath.leafIndex);

export interface CommitOutput {
  next: GroupHandle;
  /** The commit (MLSMessage), base64. */
  commit: string;
  /** The new epoch's GroupInfo (with the external key and the ratchet tree), base64. */
  groupInfo: string;
  /** The welcome for the added devices, base64; absent when nobody was added. */
  welcome?: string;
}

/** A commit adding these key packages and removing these leaves; `g` itself is left as it was. */
export async function commit(g: GroupHandle, add: string[], removeLeaves: number[], check: MemberCheck): Promise<CommitOutput> {
  const cs = await suite();
  const proposals: Proposal[] = [
    ...add.map((kp): Proposal => ({ proposalType: 'add', add: { keyPackage: publicPackage(kp) } })),
    ...removeLeaves.map((leaf): Proposal => ({ proposalType: 'remove', remove: { removed: toLeafIndex(leaf) } })),
  ];
  const out = await createCommit(
    { state: withCheck(g.state, check), cipherSuite: cs },
    { extraProposals: proposals, ratchetTreeExtension: true },
  );
  const info = await createGroupInfoWithExternalPubAndRatchetTree(out.newState, [], cs);
  return {
    next: { state: out.newState },
    commit: toBase64(encodeMlsMessage(out.commit)),
    groupInfo: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: info })),
    ...(out.welcome ? { welcome: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: out.welcome })) } : {}),
  };
}

/** The refs (hex) of the key packages a welcome is for. */
export function welcomeRefs(b64: string): string[] {
  const m = decode(b64);
  if (m.wireformat !== 'mls_welcome') throw new Error('not a welcome');
  return m.welcome.secrets.map((s) => hex(s.newMember));
}

export async function join(welcomeB64: string, kp: OwnKeyPackage, check: MemberCheck): Promise<GroupHandle> {
  const cs = await suite();
  const m = decode(welcomeB64);
  if (m.wireformat !== 'mls_welcome') throw new Error('not a welcome');
  const state = await joinGroup(
    m.welcome,
    publicPackage(kp.public),
    privatePackage(kp),
    emptyPskIndex,
    cs,
    undefined,
    undefined,
    configFor(check),
  );
  return { state };
}

/**
 * Joins a group alone, by an external commit (RFC 9420 §12.4.3.2) against its latest
 * GroupInfo, which carries the external public key and the ratchet tree (as commit()
 * publishes it). `check` vets every member's credential, as when joining by a welcome.
 * The commit goes out as a PublicMessage: the joiner has no epoch secret to encrypt it with.
 */
export async function joinExternal(groupInfoB64: string, kp: OwnKeyPackage, check: MemberCheck): Promise<CommitOutput> {
  const cs = await suite();
  const m = decode(groupInfoB64);
  if (m.wireformat !== 'mls_group_info') throw new Error('not a group info');
  const out = await joinGroupExternal(m.groupInfo, publicPackage(kp.public), privatePackage(kp), false, cs, undefined, configFor(check));
  const info = await createGroupInfoWithExternalPubAndRatchetTree(out.newState, [], cs);
  return {
    next: { state: out.newState },
    commit: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_public_message', publicMessage: out.publicMessage })),
    groupInfo: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: info })),
  };
}

/**
 * `sender`: the (user, device) of the leaf that sent an application message, from its
 * credential: authenticated, since the message decrypted and its signature by that leaf's
 * key verified (null when the leaf's credential is not one of ours).
 */
export type Processed =
  | { kind: 'commit'; next: GroupHandle }
  | { kind: 'application'; next: GroupHandle; data: Uint8Array; sender: { userId: string; deviceId: string } | null };

/** Processes a commit or an application message of the group. */
export async function processMessage(g: GroupHandle, b64: string, check: MemberCheck): Promise<Processed> {
  const cs = await suite();
  const m = decode(b64);
  const state = withCheck(g.state, check);
  if (m.wireformat === 'mls_public_message') {
    // Only a new device's external commit travels in the clear (joinExternal); a member's application data never does.
    if (m.publicMessage.content.sender.senderType !== 'new_member_commit')
      throw new Error('a public message that is not an external commit');
    const out = await processPublicMessage(state, m.publicMessage, makePskIndex(state, {}), cs);
    return { kind: 'commit', next: { state: out.newState } };
  }
  if (m.wireformat !== 'mls_private_message') throw new Error(`unexpected ${m.wireformat}`);
  // The sender's leaf before processing: the tree of the message's epoch (ts-mls keeps a few past ones).
  const pm = m.privateMessage;
  const current = pm.epoch === state.groupContext.epoch;
  const past = current ? undefined : state.historicalReceiverData.get(pm.epoch);
  const senderData = current
    ? await decryptSenderData(pm, state.keySchedule.senderDataSecret, cs)
    : past && (await decryptSenderData(pm, past.senderDataSecret, cs));
  const out = await processPrivateMessage(state, pm, makePskIndex(state, {}), cs);
  if (out.kind === 'applicationMessage') {
    const tree = current ? state.ratchetTree : past?.ratchetTree;
    const node = senderData ? tree?.[senderData.leafIndex * 2] : undefined;
    const sender =
      node?.nodeType === 'leaf' && node.leaf.credential.credentialType === 'basic' ? parseIdentity(node.leaf.credential.identity) : null;
    return { kind: 'application', next: { state: out.newState }, data: out.message, sender };
  }
  return { kind: 'commit', next: { state: out.newState } };
}

export async function encrypt(g: GroupHandle, data: Uint8Array): Promise<{ next: GroupHandle; ciphertext: string }> {
  const cs = await suite();
  const out = await createApplicationMessage(g.state, data, cs);
  return {
    next: { state: out.newState },
    ciphertext: toBase64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: out.privateMessage })),
  };
}

/** Whether this device is still in the group (false once a commit removed it). */
export const active = (g: GroupHandle): boolean => g.state.groupActiveState.kind === 'active';

export const saveGroup = (g: GroupHandle): Uint8Array => encodeGroupState(g.state);

export function loadGroup(bytes: Uint8Array, check: MemberCheck): GroupHandle {
  const decoded = decodeGroupState(bytes, 0);
  if (!decoded) throw new Error('unreadable group state');
  return { state: { ...decoded[0], clientConfig: configFor(check) } };
}
