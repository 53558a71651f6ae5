import type { ClientDialect, DecodedFrame } from '../types';
import { isRecord, num, readResync, str, toMillis, toWireError } from './shared';

/**
 * Seed 001's collaboration rooms: `{type: 'request'|'response'|'event'|'error', id, method, params, data,
 * error: {code, message}, timestamp}`; an event's name is in `method`. The envelope has no ping type, so the
 * heartbeat is a `ping` request: its response (or even an error naming its id) proves the round trip.
 */
export const roomsDialect: ClientDialect = {
  name: 'rooms',

  encodeRequest(id, method, params) {
    return params === undefined
      ? { type: 'request', id, method, timestamp: Date.now() }
      : { type: 'request', id, method, params, timestamp: Date.now() };
  },

  encodePing(id, timestamp) {
    return { type: 'request', id, method: 'ping', params: { timestamp }, timestamp };
  },

  decode(frame) {
    if (!isRecord(frame) || typeof frame.type !== 'string') return null;
    const id = str(frame.id);
    switch (frame.type) {
      case 'response':
        return id === undefined ? null : { kind: 'response', id, data: frame.data, raw: frame };
      case 'error':
        return { kind: 'error', id, error: toWireError(frame.error, frame), raw: frame };
      case 'resync':
      case 'resync_response':
      case 'snapshot': {
        const resync = readResync(frame.data, decodeEvent, frame);
        if (resync) return resync;
        return { kind: 'control', name: frame.type, data: frame.data, raw: frame };
      }
      case 'pong':
        return { kind: 'pong', id, timestamp: toMillis(frame.timestamp), raw: frame };
      case 'event': {
        const name = str(frame.method) ?? 'message';
        // The welcome and server heartbeats are about the connection, not the room: never logged, never deduped.
        if (CONTROL_NAMES.has(name) && frame.eventId === undefined)
          return { kind: 'control', name, data: frame.data, raw: frame };
        if (RESYNC_NAMES.has(name)) {
          const resync = readResync(frame.data, decodeEvent, frame);
          if (resync) return resync;
        }
        return decodeEvent(frame);
      }
      default:
        return { kind: 'control', name: frame.type, data: frame.data, raw: frame };
    }
  },
};

/** Names a server may give its resync answer in this envelope (an event, or a frame type of its own). */
const RESYNC_NAMES = new Set(['resync', 'resync_response', 'snapshot']);
const CONTROL_NAMES = new Set(['connected', 'heartbeat']);

function decodeEvent(frame: unknown): DecodedFrame | null {
  if (!isRecord(frame)) return null;
  const name = str(frame.method) ?? str(frame.type);
  if (name === undefined) return null;
  return { kind: 'event', name, data: frame.data, eventId: str(frame.eventId), sequence: num(frame.sequence), raw: frame };
}
