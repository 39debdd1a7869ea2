import { z } from 'zod';
import { optional } from './text.js';

/*
 * Push targets (PROTOCOL.md "Push notifications"): the body of PUT /v1/devices/current/push.
 * Shapes and sizes are checked here; the server also checks what needs decoding (the
 * Web Push keys' bytes) and its own policy (allowed endpoints, configured providers).
 */

/** base64url, padding tolerated (some browsers' toJSON() of a subscription pads). */
const base64url = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');

export const WebPushTargetBody = z.object({
  provider: z.literal('webpush'),
  subscription: z.object({
    endpoint: z.string().min(1).max(2048),
    keys: z.object({
      /** An uncompressed P-256 public key: 65 bytes, 87 characters unpadded. */
      p256dh: base64url(86, 90),
      /** The 16-byte auth secret: 22 characters unpadded. */
      auth: base64url(21, 24),
    }),
  }),
});

export const ApnsTargetBody = z.object({
  provider: z.literal('apns'),
  /** APNs device tokens are hex (32 bytes today; Apple says they may grow). */
  token: z
    .string()
    .min(32)
    .max(200)
    .regex(/^[0-9a-fA-F]+$/, 'must be hex'),
  environment: optional(z.enum(['production', 'sandbox'])),
});

export const FcmTargetBody = z.object({
  provider: z.literal('fcm'),
  /** FCM registration tokens are about 160 characters of [A-Za-z0-9_:-]. */
  token: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z0-9_:.-]+$/, 'must be an FCM registration token'),
});

export const PushTargetBody = z.discriminatedUnion('provider', [WebPushTargetBody, ApnsTargetBody, FcmTargetBody]);
export type PushTargetBody = z.infer<typeof PushTargetBody>;

/** What a push carries (PROTOCOL.md): no content unless the server runs with PUSH_PREVIEW=on. */
export interface PushPayload {
  v: 1;
  type: 'new_message';
  chat_id: string;
  message_id: string;
  seq: number;
  sender_name?: string;
  preview?: string;
}
