import { z } from 'zod';
import { BASE64, MAX_CLIENT_MSG_ID_CHARS } from './frames.js';
import { optional, storableText } from './text.js';
// The limits (docs/e2ee.md "Limits") live in limits.ts, free of schemas: a browser bundle
// of the SDK's E2ee layer takes them without zod.
import {
  MAX_KEY_PACKAGE_CHARS,
  MAX_KEY_PACKAGES_PER_UPLOAD,
  MAX_CLAIM_USERS,
  MAX_MLS_BLOB_CHARS,
  MAX_WELCOMES_PER_COMMIT,
} from './limits.js';

/*
 * The MLS Delivery Service's REST bodies (docs/e2ee.md). Every MLS value is opaque base64 to
 * the server: it checks the encoding and the size, never the contents.
 */

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
