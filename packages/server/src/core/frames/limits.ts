import type { ParseResult } from '@switchboard/protocol';
import type { Limits } from '../limits.js';
import type { Metrics } from '../../util/metrics.js';
import type { FrameSocket } from './types.js';

/**
 * Counts a frame against its device's buckets: a send against messages and content
 * bytes, anything else (bad frames included) against frames. Over a limit, answers the
 * frame with `rate_limited` (the send's client_msg_id included) and returns true: the
 * frame is dropped before it does any work, so a refused send is neither stored nor acked.
 */
export function refusedByLimits(limits: Limits, metrics: Metrics, conn: FrameSocket, parsed: ParseResult): boolean {
  // Sends and changes (each an entry of a chat's log) count as messages.
  const send = parsed.ok && LOGGED.has(parsed.frame.type) ? (parsed.frame as { client_msg_id: string; content?: string }) : undefined;
  const wait = send
    ? limits.sendWait(conn.deviceId, Buffer.byteLength(send.content ?? ''))
    : limits.frameWait(conn.deviceId, frameCost(parsed));
  if (wait === 0) return false;
  const clientMsgId = send ? send.client_msg_id : parsed.ok ? undefined : parsed.client_msg_id;
  metrics.frameErrors.inc({ code: 'rate_limited' });
  const frame = {
    type: 'error' as const,
    code: 'rate_limited',
    message: send ? 'too many messages: slow down' : 'too many frames: slow down',
  };
  conn.sendFrame({ ...frame, retry_after_ms: wait, ...(clientMsgId === undefined ? {} : { client_msg_id: clientMsgId }) });
  return true;
}

const LOGGED = new Set(['send_message', 'edit_message', 'delete_message', 'react']);

/** Message ids one frame token pays for: an ack of a whole backlog costs what its lookups cost, not one frame. */
const IDS_PER_TOKEN = 100;

/** Tokens a non-send frame takes from the frames bucket. */
function frameCost(parsed: ParseResult): number {
  if (!parsed.ok || parsed.frame.type !== 'ack_delivered') return 1;
  const ids = (parsed.frame.message_ids?.length ?? 0) + (parsed.frame.message_id ? 1 : 0);
  return Math.max(1, Math.ceil(ids / IDS_PER_TOKEN));
}
