import type { FrameHandler, FrameSocket } from './types.js';

/** typing: relayed to the chat's other members, within a per-socket token bucket (RATE_LIMITS=off lifts it). */
export const typing: FrameHandler<'typing'> = async (socket, frame, deps) => {
  if (deps.limits.enabled && refused(socket, deps.config.typingPerSecond)) return;
  // The same access rule as sending (a direct chat exists before its first message).
  const target = await deps.access.forSend(socket.userId, frame.chat_id);
  // Two users where one blocked the other see none of each other's typing, in any chat.
  const others = await deps.access.withoutBlocks(
    socket.userId,
    target.memberIds.filter((id) => id !== socket.userId),
  );
  await deps.delivery.toUsers(others, { type: 'typing', chat_id: frame.chat_id, user_id: socket.userId, state: frame.state });
};

/** The per-socket typing bucket: answers rate_limited and true when the frame is refused. */
function refused(socket: FrameSocket, rate: number): boolean {
  // Token bucket per socket: `rate` tokens a second, a burst of as many.
  const now = Date.now();
  socket.typingTokens = Math.min(rate, socket.typingTokens + ((now - socket.typingRefillAt) / 1000) * rate);
  socket.typingRefillAt = now;
  if (socket.typingTokens < 1) {
    const retry = Math.ceil(((1 - socket.typingTokens) / rate) * 1000);
    socket.sendFrame({ type: 'error', code: 'rate_limited', message: 'too many typing frames', retry_after_ms: retry });
    return true;
  }
  socket.typingTokens -= 1;
  return false;
}
