import { formatEventId } from '../../core/protocol';
import type { ClientDialect, DecodedFrame } from '../types';
import { isRecord, num, readResync, str, toWireError } from './shared';

/**
 * Seed 000's game socket: `{type, id, data}` both ways. `connected` is a control frame; `chunk_handoff` makes the
 * client follow the player into the next chunk's actor by itself (a `redirect`). Answers are typed like events (`zone_created` with the
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
      case 'connected':
        return { kind: 'control', name: 'connected', data: frame.data, raw: frame };
      case 'chunk_handoff': {
        // The player crossed into another chunk: reconnect to its actor and resume from its log.
        const d = isRecord(frame.data) ? frame.data : {};
        const chunk = str(d.chunk_id);
        if (chunk === undefined) break;
        const query: Record<string, string> = { chunk };
        const from = str(d.handoff_from);
        const seq = num(d.handoff_seq);
        if (from !== undefined && seq !== undefined) {
          query.handoff_from = from;
          query.handoff_seq = String(seq);
        }
        return {
          kind: 'redirect',
          name: 'chunk_handoff',
          query,
          lastEventId: str(d.last_event_id),
          data: frame.data,
          raw: frame,
        };
      }
      case 'players_moved': {
        const moves = readMoves(frame);
        if (moves) return { kind: 'batch', frames: moves, raw: frame };
        break;
      }
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

/**
 * A tick's `players_moved` (a connection opened with `?batch=1`) as the `player_moved` events it stands for, in
 * order, each with its own `eventId` and `sequence`; null when the frame is not one.
 */
function readMoves(frame: Record<string, unknown>): DecodedFrame[] | null {
  const d = frame.data;
  if (!isRecord(d) || !Array.isArray(d.moves)) return null;
  const epoch = str(d.epoch);
  const events: DecodedFrame[] = [];
  for (const move of d.moves) {
    if (!isRecord(move)) continue;
    const { sequence, ...data } = move;
    const seq = num(sequence);
    events.push({
      kind: 'event',
      name: 'player_moved',
      data,
      eventId: epoch !== undefined && seq !== undefined ? formatEventId(epoch, seq) : undefined,
      sequence: seq,
      raw: frame,
    });
  }
  return events;
}

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
