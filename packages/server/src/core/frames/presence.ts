import { MAX_PRESENCE_WATCH } from '@switchboard/protocol';
import { DomainError } from '../errors.js';
import type { FrameHandler } from './types.js';

/** presence_subscribe: a presence frame for each user at once, then on every change. */
export const presenceSubscribe: FrameHandler<'presence_subscribe'> = async (socket, frame, deps) => {
  const result = await deps.presence.subscribe(socket, frame.user_ids, MAX_PRESENCE_WATCH);
  if (result === 'too_many') throw new DomainError('invalid_frame', `a socket may watch at most ${MAX_PRESENCE_WATCH} users`);
};

export const presenceUnsubscribe: FrameHandler<'presence_unsubscribe'> = (socket, frame, deps) => {
  deps.presence.unsubscribe(socket, frame.user_ids);
};
