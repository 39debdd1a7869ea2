import type { ChangeFrame } from '@switchboard/protocol';
import type { FrameDeps, FrameHandler, FrameSocket } from './types.js';

/**
 * edit_message, delete_message and react (PROTOCOL.md "Message lifecycle"): ordered with the
 * socket's sends. A change is a transaction of its own, not part of the append batches, so
 * it first waits for this socket's earlier sends to be durable (their seqs and acks come
 * first), and the next send waits for the change: seqs and acks follow the device's order.
 */
function change(socket: FrameSocket, frame: ChangeFrame, deps: FrameDeps): void {
  const sender = { userId: socket.userId, deviceId: socket.deviceId };
  socket.sendStarted(frame.chat_id);
  socket.sendChain = socket.sendChain.then(async () => {
    try {
      await socket.lastCommit;
      const ack = await deps.changes.change(sender, frame, (a) => socket.noteOwnMessage(a.chat_id, a.seq));
      socket.sendFrame(ack);
    } catch (err) {
      deps.fail(socket, err, frame.client_msg_id);
    } finally {
      socket.sendSettled(frame.chat_id);
    }
  });
}

export const editMessage: FrameHandler<'edit_message'> = change;
export const deleteMessage: FrameHandler<'delete_message'> = change;
export const react: FrameHandler<'react'> = change;
