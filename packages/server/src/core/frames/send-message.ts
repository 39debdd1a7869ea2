import type { FrameHandler } from './types.js';

/** Sends to large groups (through the fan-out queue) one socket may have committed and waiting for the queue. */
const QUEUED_SENDS_AHEAD = 8;

function noop(): void {}

/** send_message: admitted in the socket's order; ack_sent once durable (PROTOCOL.md guarantees 1-3). */
export const sendMessage: FrameHandler<'send_message'> = (socket, frame, deps) => {
  const sender = { userId: socket.userId, deviceId: socket.deviceId };
  const started = performance.now();
  socket.sendStarted(frame.chat_id);
  // Admit sends one after another so their seq follows the order they were sent in.
  socket.sendChain = socket.sendChain.then(async () => {
    try {
      const { ack, queued } = await deps.messaging.send(sender, frame, (a) => socket.noteOwnMessage(a.chat_id, a.seq));
      socket.lastCommit = ack.catch(() => undefined);
      ack.then(
        (a) => {
          socket.sendSettled(frame.chat_id);
          deps.metrics.sendLatency.observe((performance.now() - started) / 1000);
          socket.sendFrame(a);
        },
        (err) => {
          socket.sendSettled(frame.chat_id);
          deps.fail(socket, err, frame.client_msg_id);
        },
      );
      // A large group's ack waits for room in the fan-out queue. The socket's next sends
      // go on meanwhile (at 25 msg/s to a 1,024-member group, waiting for each ack in turn
      // fell behind), but at most QUEUED_SENDS_AHEAD of them: committed messages waiting
      // for the queue stay few per socket, and a full queue still slows the sender.
      if (queued) {
        const waiting = (socket.queuedSends ??= new Set());
        const settled = ack.then(noop, noop);
        waiting.add(settled);
        void settled.then(() => waiting.delete(settled));
        // A device's acks settle in its send order (Messaging.send): the first is the oldest.
        if (waiting.size >= QUEUED_SENDS_AHEAD) await waiting.values().next().value;
      }
    } catch (err) {
      socket.sendSettled(frame.chat_id);
      deps.fail(socket, err, frame.client_msg_id);
    }
  });
};
