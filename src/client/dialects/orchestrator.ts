import type { ClientDialect, DecodedFrame } from '../types';
import { isRecord, num, readResync, str, toMillis, toWireError } from './shared';

/**
 * Seed 004's stream: server frames `{type, payload, timestamp, eventId, sequence, scope}`; the client sends
 * `ping` (the server echoes the timestamp in `pong`) and `resync` (answered by `resync_response`).
 */
export const orchestratorDialect: ClientDialect = {
  name: 'orchestrator',

  encodeRequest(id, method, params) {
    return { type: method, id, payload: params, timestamp: new Date().toISOString() };
  },

  encodePing(_id, timestamp) {
    const iso = new Date(timestamp).toISOString();
    // The seed's client puts the timestamp in `payload`, its wire contract at the top level: send both.
    return { type: 'ping', timestamp: iso, payload: { timestamp: iso } };
  },

  encodeResync(lastEventId, scopes) {
    return { type: 'resync', lastEventId, requestedScopes: scopes && scopes.length > 0 ? [...scopes] : ['all'] };
  },

  decode(frame) {
    if (!isRecord(frame) || typeof frame.type !== 'string') return null;
    const payload = frame.payload;
    const eventId = str(frame.eventId);
    const id = str(frame.id);
    switch (frame.type) {
      case 'pong': {
        const timestamp = toMillis(isRecord(payload) ? payload.timestamp : undefined) ?? toMillis(frame.timestamp);
        return { kind: 'pong', id, timestamp, raw: frame };
      }
      case 'resync_response':
        return (
          readResync(payload, (e) => decodeEvent(e), frame) ?? { kind: 'control', name: frame.type, data: payload, raw: frame }
        );
      default:
        break;
    }
    if (eventId !== undefined) return decodeEvent(frame);
    if (frame.type === 'error') return { kind: 'error', id, error: toWireError(payload), raw: frame };
    if (id !== undefined) return { kind: 'response', id, data: payload, name: frame.type, raw: frame };
    return { kind: 'control', name: frame.type, data: payload, raw: frame };
  },
};

function decodeEvent(frame: unknown): DecodedFrame | null {
  if (!isRecord(frame) || typeof frame.type !== 'string') return null;
  return {
    kind: 'event',
    name: frame.type,
    data: frame.payload,
    eventId: str(frame.eventId),
    sequence: num(frame.sequence),
    scope: str(frame.scope),
    raw: frame,
  };
}
