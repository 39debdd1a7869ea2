import type { FrameHandler } from './types.js';

/** send_message: admitted in the socket's order; ack_sent once durable (PROTOCOL.md guarantees 1-3). */
export const sendMessage: FrameHandler<'send_message'> = (socket, frame, deps) => {
  const sender = { userId: socket.userId, deviceId: socket.deviceId };
  const started = process.hrtime.bigint();
  socket.sendStarted(frame.chat_id);
  // Admit sends one after another so their seq follows the order they were sent in.
  socket.sendChain = socket.sendChain.then(async () => {
    try {
      const { ack, queued } = await deps.messaging.send(sender, frame, (a) => socket.noteOwnMessage(a.chat_id, a.seq));
      socket.lastCommit = ack.catch(() => undefined);
      ack.then(
        (a) => {
          socket.sendSettled(frame.chat_id);
          deps.metrics.sendLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
          socket.sendFrame(a);
        },
        (err) => {
          socket.sendSettled(frame.chat_id);
          deps.fail(socket, err, frame.client_msg_id);
        },
      );
      // A large group's send holds this socket's next sends until the fan-out queue
      // took it: each socket waits for room at most once, so waiters stay bounded.
      if (queued) await ack.catch(() => undefined);
    } catch (err) {
      socket.sendSettled(frame.chat_id);
      deps.fail(socket, err, frame.client_msg_id);
    }
  });
};
