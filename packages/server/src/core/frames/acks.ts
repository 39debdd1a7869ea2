import type { FrameHandler } from './types.js';

/** ack_delivered: the device holds these messages (cursor per chat). */
export const ackDelivered: FrameHandler<'ack_delivered'> = (socket, frame, deps) => {
  const ids = frame.message_ids ?? [];
  if (frame.message_id) ids.push(frame.message_id);
  return deps.messaging.ackDelivered({ userId: socket.userId, deviceId: socket.deviceId }, ids);
};

/** ack_read: the user read the chat up to that message; a later ping's pong waits for it to be stored. */
export const ackRead: FrameHandler<'ack_read'> = (socket, frame, deps) => {
  const stored = deps.messaging.ackRead({ userId: socket.userId, deviceId: socket.deviceId }, frame.chat_id, frame.last_read_message_id);
  socket.readsStored = Promise.all([socket.readsStored, stored.catch(() => undefined)]).then(() => undefined);
  return stored;
};

/**
 * ping: a barrier as well as a heartbeat: its pong follows the storing of every earlier
 * ack_read of this socket, so a client can read its own read position back right after it.
 */
export const ping: FrameHandler<'ping'> = async (socket) => {
  await socket.readsStored;
  socket.sendFrame({ type: 'pong' });
};
