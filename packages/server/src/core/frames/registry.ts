import type { ClientFrame, ClientFrameType, ParseResult } from '@switchboard/protocol';
import { DomainError } from '../errors.js';
import { ackDelivered, ackRead, ping } from './acks.js';
import { deleteMessage, editMessage, react } from './change-message.js';
import { refusedByLimits } from './limits.js';
import { presenceSubscribe, presenceUnsubscribe } from './presence.js';
import { sendMessage } from './send-message.js';
import type { FrameDeps, FrameHandler, FrameSocket } from './types.js';
import { typing } from './typing.js';

/** One handler per client frame type: a new frame adds a file here, not a branch in the gateway. */
export const frameHandlers: { [K in ClientFrameType]: FrameHandler<K> } = {
  send_message: sendMessage,
  edit_message: editMessage,
  delete_message: deleteMessage,
  react,
  ack_delivered: ackDelivered,
  ack_read: ackRead,
  typing,
  presence_subscribe: presenceSubscribe,
  presence_unsubscribe: presenceUnsubscribe,
  ping,
};

/**
 * Every frame a socket reads, in the order it read them: the device is marked active, the
 * frame is counted against the device's limits (a refused frame does no work), then its
 * type's handler runs. What a handler throws is answered with an `error` frame naming the
 * frame's client_msg_id.
 */
export class FrameDispatcher {
  constructor(private readonly deps: FrameDeps) {}

  handle(socket: FrameSocket, parsed: ParseResult): void {
    const { deps } = this;
    deps.accounts.touch(socket.deviceId);
    if (refusedByLimits(deps.limits, deps.metrics, socket, parsed)) return;
    if (!parsed.ok) {
      deps.fail(socket, new DomainError('invalid_frame', parsed.message), parsed.client_msg_id);
      return;
    }
    const frame = parsed.frame;
    const clientMsgId = 'client_msg_id' in frame ? frame.client_msg_id : undefined;
    try {
      const done = (frameHandlers[frame.type] as FrameHandler<ClientFrame['type']>)(socket, frame as never, deps);
      if (done) done.catch((err: unknown) => deps.fail(socket, err, clientMsgId));
    } catch (err) {
      deps.fail(socket, err, clientMsgId);
    }
  }
}
