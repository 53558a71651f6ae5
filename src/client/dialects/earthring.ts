import type { ClientDialect, DecodedFrame } from '../types';
import { isRecord, num, readResync, str, toWireError } from './shared';

/**
 * Seed 000's game socket: `{type, id, data}` both ways. Answers are typed like events (`zone_created` with the
 * request's `id`), so they are reported as responses named after their type: the engine turns one into an
 * event when no request waits for its id (a broadcast that kept an id).
 */
export const earthringDialect: ClientDialect = {
  name: 'earthring',

  encodeRequest(id, method, params) {
    return params === undefined ? { type: method, id } : { type: method, id, data: params };
  },

  encodePing(id) {
    return { type: 'ping', id };
  },

  decode(frame) {
    if (!isRecord(frame) || typeof frame.type !== 'string') return null;
    const id = str(frame.id);
    const eventId = str(frame.eventId);
    switch (frame.type) {
      case 'pong':
        return { kind: 'pong', id, raw: frame };
      case 'error':
        return { kind: 'error', id, error: toWireError(frame.data, frame), raw: frame };
      case 'resync':
      case 'resync_response':
      case 'snapshot': {
        const resync = readResync(frame.data, decodeEvent, frame);
        if (resync) return resync;
        break;
      }
      default:
        break;
    }
    if (id !== undefined && eventId === undefined)
      return { kind: 'response', id, data: frame.data, name: frame.type, raw: frame };
    return decodeEvent(frame);
  },
};

function decodeEvent(frame: unknown): DecodedFrame | null {
  if (!isRecord(frame) || typeof frame.type !== 'string') return null;
  return {
    kind: 'event',
    name: frame.type,
    data: frame.data,
    eventId: str(frame.eventId),
    sequence: num(frame.sequence),
    raw: frame,
  };
}
