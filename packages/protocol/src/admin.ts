import { z } from 'zod';
import { USERNAME_RE } from './limits.js';
import { charCount, nameText, optional, storableText } from './text.js';

/* Reports (PROTOCOL.md "People") and the operator's API (PROTOCOL.md "Operators"). */

/** The longest note a report may carry, in characters. */
export const REPORT_NOTE_MAX_CHARS = 1000;
export const REPORT_REASONS = ['spam', 'abuse', 'other'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];
/** GET /v1/admin/users and /v1/admin/reports: page sizes. */
export const ADMIN_PAGE_MAX = 200;
export const ADMIN_PAGE_DEFAULT = 50;

export const CreateReportBody = z.object({
  user_id: storableText().min(1).max(128),
  message_id: optional(storableText().min(1).max(128)),
  reason: z.enum(REPORT_REASONS),
  note: optional(
    storableText().refine((n) => charCount(n) <= REPORT_NOTE_MAX_CHARS, `note must be at most ${REPORT_NOTE_MAX_CHARS} characters`),
  ),
});

export const CreateBotBody = z.object({
  username: z.string().regex(USERNAME_RE, 'username must be 3 to 32 of a-z 0-9 _ .'),
  display_name: optional(nameText().min(1).max(64)),
});

export interface AdminUserView {
  user_id: string;
  username: string;
  display_name: string;
  created_at: number;
  suspended: boolean;
}

export interface ReportView {
  report_id: string;
  reporter_id: string;
  user_id: string;
  message_id: string | null;
  reason: ReportReason;
  note: string | null;
  created_at: number;
}
