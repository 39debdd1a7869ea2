import { z } from 'zod';
import { BASE64, MAX_CLIENT_MSG_ID_CHARS } from './frames.js';
import { optional, storableText } from './text.js';

/*
 * The MLS Delivery Service's REST bodies (docs/e2ee.md). Every MLS value is opaque base64 to
 * the server: it checks the encoding and the size, never the contents.
 */

/** docs/e2ee.md "Limits". */
export const MAX_KEY_PACKAGE_CHARS = 16_384;
export const MAX_KEY_PACKAGES_PER_UPLOAD = 100;
export const MAX_KEY_PACKAGES_KEPT = 500;
export const MAX_CLAIM_USERS = 100;
export const MAX_MLS_BLOB_CHARS = 4_000_000;
export const MAX_WELCOMES_PER_COMMIT = 1_100;
/** The body limit of the routes that carry commits (a 1,024-member group's welcome is large). */
export const MLS_BODY_BYTES = 16 * 1024 * 1024;

const b64 = (max: number) => z.string().min(1).max(max).regex(BASE64, 'must be standard base64');
const idText = storableText().min(1).max(MAX_CLIENT_MSG_ID_CHARS);

export const UploadKeyPackagesBody = z
  .object({
    key_packages: optional(z.array(b64(MAX_KEY_PACKAGE_CHARS)).max(MAX_KEY_PACKAGES_PER_UPLOAD)),
    last_resort: optional(b64(MAX_KEY_PACKAGE_CHARS)),
  })
  .refine((b) => (b.key_packages?.length ?? 0) > 0 || b.last_resort !== undefined, 'key_packages or last_resort is required');

export const ClaimKeyPackagesBody = z.object({
  user_ids: z.array(idText).min(1).max(MAX_CLAIM_USERS),
});

export const MlsCommitBody = z.object({
  client_msg_id: idText,
  epoch: z.number().int().min(0),
  commit: b64(MAX_MLS_BLOB_CHARS),
  group_info: b64(MAX_MLS_BLOB_CHARS),
  welcomes: optional(
    z
      .array(z.object({ device_ids: z.array(idText).min(1).max(MAX_WELCOMES_PER_COMMIT), welcome: b64(MAX_MLS_BLOB_CHARS) }))
      .max(MAX_WELCOMES_PER_COMMIT),
  ),
});
export type MlsCommitInput = z.infer<typeof MlsCommitBody>;

export interface KeyPackageCounts {
  available: number;
  last_resort: boolean;
}
export interface ClaimedKeyPackage {
  user_id: string;
  device_id: string;
  key_package: string;
  last_resort: boolean;
}
export interface ClaimResult {
  key_packages: ClaimedKeyPackage[];
  missing: { user_id: string; device_id: string }[];
}
export interface MemberDevice {
  user_id: string;
  device_id: string;
}
export interface MlsChatState {
  chat_id: string;
  encrypted: boolean;
  epoch: number;
  group_info: string | null;
  devices: MemberDevice[];
}
export interface MlsCommitAccepted {
  message_id: string;
  chat_id: string;
  seq: number;
  epoch: number;
  created_at: number;
}
export interface MlsWelcome {
  welcome_id: string;
  chat_id: string;
  epoch: number;
  welcome: string;
  created_at: number;
}
